"""The sizes a Corpus scans in (runs inside the kernel), read from here at each use: a test or
a benchmark that sets one here changes it for every part of the scan.
"""

from __future__ import annotations

WINDOW = 8 << 20  # bytes of text a regex scans per step
SPARSE_HIGH_LINES = 11  # lines above 0x7f decoded on their own where at most one in 2**this bytes
MARGIN = 64 << 10  # bytes of text kept on each side of a window
MAX_MATCH = 64 << 20  # the longest match (or line, or piece) a scan will grow a window for
PARALLEL_MIN = 64 << 20  # bytes per core below which a whole-corpus scan stays on one core

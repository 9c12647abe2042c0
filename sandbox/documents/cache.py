"""The extraction cache: a document's text and index, kept under its content's SHA-256, so
that a second query over the same files extracts nothing. Entries are written whole (a
temporary name, then a rename), never changed after, and the least recently used are removed
past a size budget. A directory that is not the user's alone (another's, or writable by
others) is refused: entries planted there would be taken for extractions."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# bumped whenever a reader's output changes, so older entries are not reused
EXTRACTOR_VERSION = 1


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rlm" / "documents"


def content_key(fd: int, fmt: str) -> str:
    """The cache key of the file open on `fd` (read from its start, by position)."""
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, 1 << 22, offset):
        digest.update(chunk)
        offset += len(chunk)
    return f"{digest.hexdigest()}-{fmt}-v{EXTRACTOR_VERSION}"


class CacheError(Exception):
    pass


@dataclass
class Entry:
    """A cached extraction: `text` holds the text, `index` what the worker reported (docs,
    places, notes, cut) and the limits it ran under; or a failure (`error`)."""

    key: str
    text: Path | None
    index: dict[str, Any]

    @property
    def error(self) -> str | None:
        return self.index.get("error")


class Cache:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # another user's directory, or one others may write to (a shared or world-writable
        # cache_dir, a symlink to either), could hold entries planted for known files' content
        st = os.stat(directory)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise CacheError(f"the extraction cache {directory} is not this user's alone (owner uid {st.st_uid}, "
                             f"mode {st.st_mode & 0o777:o}): its entries could be planted")

    def get(self, key: str, limits: dict[str, Any]) -> Entry | None:
        """The entry for `key`, if one made under limits no smaller than `limits` (a text cut
        at 64 MiB is not what a run allowed 1 GiB wants) is kept; its use is recorded."""
        meta = self.directory / f"{key}.json"
        try:
            with open(meta, encoding="utf-8") as f:
                index = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(index, dict):
            return None
        made = index.get("limits") or {}
        if (index.get("cut") or index.get("error")) and any(
                limits.get(k, 0) > made.get(k, 0) for k in ("max_bytes", "time_s", "memory_bytes")):
            return None
        text = None
        if not index.get("error"):
            text = self.directory / f"{key}.txt"
            try:
                # two runs extracting the same file at once each rename their text and their
                # index into place: an index is used only with the text it was made with
                if text.stat().st_size != index.get("text_bytes"):
                    return None
            except OSError:
                return None
        with contextlib.suppress(OSError):
            os.utime(meta)
        return Entry(key, text, index)

    def new_files(self) -> tuple[Path, Path]:
        """Two fresh files (text, index) to extract into, under temporary names."""
        stem = self.directory / f"tmp-{os.getpid()}-{secrets.token_hex(8)}"
        text, index = Path(f"{stem}.txt"), Path(f"{stem}.json")
        for p in (text, index):
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        return text, index

    def put(self, key: str, text: Path | None, index: dict[str, Any]) -> Entry:
        """Keep an extraction (its text file renamed into place) or a failure."""
        final_text = None
        if text is not None:
            index = {**index, "text_bytes": text.stat().st_size}
            final_text = self.directory / f"{key}.txt"
            os.replace(text, final_text)
        meta = self.directory / f"{key}.json"
        tmp = self.directory / f"tmp-{os.getpid()}-{secrets.token_hex(8)}.meta"
        tmp.write_text(json.dumps(index), encoding="utf-8")
        os.replace(tmp, meta)
        return Entry(key, final_text, index)

    def prune(self, keep: set[str]) -> int:
        """Remove the least recently used entries (never those in `keep`) until the cache
        holds at most max_bytes, and temporary files a killed run left; bytes freed."""
        entries: list[tuple[float, str, int]] = []
        freed = 0
        for p in self.directory.iterdir():
            try:
                st = p.lstat()
            except OSError:
                continue
            if p.name.startswith("tmp-"):
                pid = p.name.split("-")[1]
                if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
                    with contextlib.suppress(OSError):
                        p.unlink()
                        freed += st.st_size
                continue
            if p.suffix == ".json":
                size = st.st_size
                with contextlib.suppress(OSError):
                    size += (p.with_suffix(".txt")).stat().st_size
                entries.append((st.st_mtime, p.stem, size))
            elif p.suffix == ".png":  # a page drawn for a vision model
                entries.append((st.st_mtime, p.name, st.st_size))
        total = sum(size for _, _, size in entries)
        for _, key, size in sorted(entries):
            if total <= self.max_bytes:
                break
            if key in keep:
                continue
            for name in ((key,) if key.endswith(".png") else (f"{key}.json", f"{key}.txt")):
                with contextlib.suppress(OSError):
                    (self.directory / name).unlink()
            total -= size
            freed += size
        return freed

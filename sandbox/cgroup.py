"""A control group per sandbox (host side): a memory limit that counts what rlimits do not
(shared and anonymous mappings, memfd, SysV shared memory, tmpfs pages) and a process limit
that holds for root too.

cgroup v2 (one unified tree) and v1 (a `memory` and a `pids` hierarchy) are both handled; the
group is made inside the host process's own group, so it nests under whatever limits the host
already has. Needs write access to the cgroup file system (root, or a delegated subtree);
without it the sandbox reports the layer as unavailable and keeps its rlimits.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.scratch import pid_running

ROOT = Path("/sys/fs/cgroup")


def _own_path(controller: str | None) -> str | None:
    """This process's group in the v1 hierarchy of `controller` (None: the v2 group)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller is None and names == "") or (controller is not None and controller in names.split(",")):
            return path
    return None


def _sweep_stale(parent: Path, version: int) -> None:
    """Remove the groups that sandboxes of controllers now gone left in `parent` (a controller
    killed before it closed, or a group whose last process outlived the wait in `remove`),
    ending what still runs in them: a group's name carries its controller's pid
    (rlm-sandbox-<pid>-<id>), and only groups whose controller is gone are touched."""
    with contextlib.suppress(OSError):
        for d in parent.glob("rlm-sandbox-*"):
            pid = d.name.split("-")[2]
            if not pid.isdigit() or pid_running(int(pid)):
                continue
            stale = Cgroup(version, [d])
            stale.kill_all()
            stale.remove()


@dataclass
class Cgroup:
    """The groups of one sandbox: `procs` are the files a process writes its pid into to join."""

    version: int
    dirs: list[Path] = field(default_factory=list)

    @property
    def procs(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> Cgroup:
        """Make the groups and set their limits; raises OSError when cgroups cannot be used."""
        if (ROOT / "cgroup.controllers").exists():
            return cls._create_v2(name, memory_bytes, processes)
        return cls._create_v1(name, memory_bytes, processes)

    @classmethod
    def _create_v2(cls, name: str, memory_bytes: int, processes: int) -> Cgroup:
        own = _own_path(None)
        if own is None:
            raise OSError("no cgroup v2 group for this process")
        parent = ROOT / own.lstrip("/")
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        missing = [c for c in ("memory", "pids") if c not in enabled]
        if missing:  # a group with processes cannot enable controllers for its children (v2 rule)
            raise OSError(f"the host's cgroup does not delegate {', '.join(missing)} to child groups")
        _sweep_stale(parent, 2)
        (parent / name).mkdir()
        return cls(2, [parent / name])._limited(memory_bytes, processes)

    @classmethod
    def _create_v1(cls, name: str, memory_bytes: int, processes: int) -> Cgroup:
        group = cls(1)
        try:
            for controller in ("memory", "pids"):
                own = _own_path(controller)
                base = ROOT / controller
                if own is None or not base.is_dir():
                    raise OSError(f"no cgroup v1 {controller} hierarchy")
                d = base / own.lstrip("/") / name
                _sweep_stale(d.parent, 1)
                d.mkdir()
                group.dirs.append(d)
        except OSError:
            group.remove()
            raise
        return group._limited(memory_bytes, processes)

    def _limited(self, memory_bytes: int, processes: int) -> Cgroup:
        """Set both limits (the pids controller is the last directory); on failure remove the groups."""
        try:
            self.set_memory(memory_bytes)
            (self.dirs[-1] / "pids.max").write_text(str(processes))
        except OSError:
            self.remove()
            raise
        return self

    def set_memory(self, memory_bytes: int) -> None:
        """The memory limit of the group (swap included where the kernel accounts it)."""
        d = self.dirs[0]
        if self.version == 2:
            (d / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):
                (d / "memory.swap.max").write_text("0")
            return
        # v1: memsw must stay >= limit, so raise whichever the order requires
        memsw = d / "memory.memsw.limit_in_bytes"
        current = int((d / "memory.limit_in_bytes").read_text())
        order = [("memory.limit_in_bytes", memory_bytes)]
        if memsw.exists():
            order = ([("memory.memsw.limit_in_bytes", memory_bytes)] + order if memory_bytes > current
                     else order + [("memory.memsw.limit_in_bytes", memory_bytes)])
        for fname, value in order:
            (d / fname).write_text(str(value))

    def kill_all(self) -> None:
        """SIGKILL every process in the group (v2 has cgroup.kill; v1 reads the member list)."""
        import signal

        for d in self.dirs:
            if self.version == 2 and (d / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    (d / "cgroup.kill").write_text("1")
                continue
            with contextlib.suppress(OSError):
                for pid in (d / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)

    def remove(self) -> None:
        """Remove the groups (their processes must be gone; waits briefly for them to be)."""
        for d in reversed(self.dirs):
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        self.dirs = [d for d in self.dirs if d.exists()]

    def describe(self) -> str:
        where = ", ".join(str(d) for d in self.dirs)
        return f"cgroup v{self.version}: {where}"

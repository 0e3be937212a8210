"""A process's children, for tests that must find the render child of `bulletin send` (to
see it alive, signal it, or see it gone)."""

from __future__ import annotations

from pathlib import Path


def child_processes(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux: /proc/PID/task/*/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # a thread that has just ended
            continue
    return found

"""Process helpers for the tests that check no process is left behind (Linux: they read /proc).

Shared by tests/test_extract_frames.py (the extractor's workers) and tests/test_launchers.py (the rollout server).
"""

from pathlib import Path


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after "pid (name)": state, parent pid, ..."""
    return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie has exited; only its parent's bookkeeping, or a non-reaping init's,
    is left)."""
    try:
        return _stat_fields(pid)[0] != 'Z'
    except OSError:
        return False


def process_tree(pid: int) -> list[int]:
    """The pids of the processes below `pid`: for the extractor, the forkserver, the workers, the resource tracker."""
    children = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            parent = int(_stat_fields(stat.parent.name)[1])
        except (OSError, IndexError):  # ended meanwhile
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found

"""Atomic file writers: a reader (or a rerun after a crash) sees the old file or the new one, never half of one.

    write_bytes_atomic("out/model.pte", data)
    write_text_atomic("out/summary.json", text)
    write_json_atomic("out/summary.json", obj)
    with atomic_path("out/plot.png") as tmp:       # for writers that want a path (matplotlib, torch.save, np.save)
        fig.savefig(tmp)

Each writes a temporary file in the destination folder (same file system), flushes and fsyncs it, then
``os.replace``s it over the destination. On any error the temporary file is removed and the destination is
untouched. The file gets the mode any tool's new file gets, 0666 less the user's umask (0644 typically), not the
0600 of ``tempfile.mkstemp``.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic", "write_json_atomic"]


def new_file_mode() -> int:
    """0666 less the process umask. Linux reports the umask in /proc/self/status; elsewhere it can only be read by
    setting it, so it is set back at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; when the block ends without error it replaces ``path``.

    ``suffix`` defaults to ``path``'s own (so writers that pick a format by extension, like matplotlib, still do).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix if suffix is None else suffix,
                               dir=path.parent)
    try:
        os.fchmod(fd, new_file_mode())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")

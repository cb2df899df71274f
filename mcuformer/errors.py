"""Errors a user can act on, and the checks of paths that raise them.

:class:`UserError` is what every stage raises for a bad input or a missing tool; the command line prints it as one
line on stderr (`mcuformer: error: <message>`) and exits with status 1.
"""
from __future__ import annotations

import os
from pathlib import Path


class UserError(Exception):
    """An error the user can act on: printed as `mcuformer: error: <message>`, exit status 1, no traceback."""


def first_line(e: BaseException) -> str:
    s = str(e).strip() or type(e).__name__
    return s.splitlines()[0]


def find_cause(e: BaseException | None, kind: type) -> BaseException | None:
    """The first exception of type ``kind`` in the cause/context chain of ``e`` (ExecuTorch wraps ours)."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, kind):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def existing_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} {str(p)!r} does not exist")
    if not p.is_file():
        raise UserError(f"{what} {str(p)!r} is not a file")
    return p


def writable_dir(path: str | Path, what: str = "output folder") -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{what} {str(p)!r} exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {what} {str(p)!r}: {e.strerror}") from None
    if not os.access(p, os.W_OK):
        raise UserError(f"{what} {str(p)!r} is not writable")
    return p


def out_file(path: str | Path, what: str = "output file") -> Path:
    p = Path(path)
    if p.exists() and p.is_dir():
        raise UserError(f"{what} {str(p)!r} is a folder")
    writable_dir(p.parent if str(p.parent) else ".", f"folder of the {what}")
    return p

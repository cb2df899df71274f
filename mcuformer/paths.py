"""Where the C++ sources are and where their builds go, the same from a checkout and from an installed wheel.

The wheel mirrors the checkout with the package folder as its root (``backend/`` → ``mcuformer/backend/``,
``runtime/`` → ``mcuformer/runtime/``, ``examples/``, ``tools/`` alike: pyproject.toml's package-data), so every
relative path between the sources (the runtime's ``../backend/serialization/schema.fbs``, the firmware's
``../../runtime``) holds in both. Builds never go into the sources of an installed package:

* ``$MCUFORMER_BUILD_DIR`` when set;
* ``<checkout>/build`` when the sources are a checkout (a ``pyproject.toml`` beside them);
* otherwise a per-user cache, ``$XDG_CACHE_HOME/mcuformer/<version>`` (``~/.cache/mcuformer/<version>``).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from . import __version__


def source_root() -> Path:
    """The folder holding backend/, runtime/, examples/ and tools/: the checkout, or the installed package."""
    spec = importlib.util.find_spec("mcuformer.backend")
    return Path(spec.origin).resolve().parent.parent


def build_root() -> Path:
    override = os.environ.get("MCUFORMER_BUILD_DIR")
    if override:
        return Path(override)
    root = source_root()
    if (root / "pyproject.toml").is_file():
        return root / "build"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mcuformer" / __version__

"""Atomic, self-describing training checkpoints with every RNG state, and clear errors when one is damaged.

A checkpoint is a dict saved with ``torch.save`` and read back with ``weights_only=True`` (plain containers,
tensors, numbers and strings only: numpy's RNG state is stored as a tensor). ``save_checkpoint`` writes a temporary
file in the same folder (``mcuformer.io.atomic_path``), fsyncs it, then replaces the target with it, so a run killed while writing leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import atomic_path

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state", "FORMAT_VERSION"]

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not match the run resuming from it."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format_version": FORMAT_VERSION, **state}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # mcuformer/io.py: the user's umask, fsync, rename
        torch.save(state, f)  # into a file object: a full disk is an OSError (a path gives torch's RuntimeError)


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint; :class:`CheckpointError` naming the file if it is truncated, corrupt or of another kind."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means the file is unusable
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(e).__name__}: {e}). Delete it to start over, "
            "or restore it from a copy."
        ) from e
    if not isinstance(state, dict) or "format_version" not in state:
        raise CheckpointError(f"checkpoint {path} is not an mcuformer checkpoint (no format_version)")
    if state["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {state['format_version']}, this code reads {FORMAT_VERSION}"
        )
    if kind is not None and state.get("kind") != kind:
        raise CheckpointError(f"checkpoint {path} holds a {state.get('kind')!r} run, expected {kind!r}")
    return state


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

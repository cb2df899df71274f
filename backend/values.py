"""The values the lowering tracks while it walks an edge graph, and its error type (shared by `lowering.py` and the
op rules in `ops/`, which is why they live apart from both).

- `QVal`: an int8 IR tensor with its quantization (what every dequantize node stands for),
- `Const`: a constant from the program (weights, tables, embeddings), with per-tensor/per-channel quantization
  when it was dequantized, or plain float (LayerNorm affine parameters),
- `FloatIO`: a float32 delegate input or output.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class LoweringError(RuntimeError):
    """An edge node the backend cannot lower; the message names the node and the reason."""


@dataclass
class QVal:
    tid: int
    scale: float
    zp: int


@dataclass
class Const:
    data: np.ndarray
    scales: np.ndarray | None = None  # None: float constant
    zps: np.ndarray | None = None
    axis: int | None = None  # per-channel axis

    @property
    def per_tensor(self) -> bool:
        return self.scales is not None and self.scales.size == 1


@dataclass
class FloatIO:
    tid: int

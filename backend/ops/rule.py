from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.fx import Node


@dataclass(frozen=True)
class Rule:
    name: str
    targets: tuple  # ATen overloads (edge ops are matched through the overload they wrap)
    lower: Callable  # (Lowering, Node) -> value
    check: Callable[[Node], str | None] = lambda node: None  # None: lower may run; else the one-line reason


def shape(node) -> tuple[int, ...]:
    return tuple(int(d) for d in node.meta["val"].shape)


def norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


def aten_target(node: Node):
    """The ATen overload behind a node: edge ops wrap it (`EdgeOpOverload._op`), ATen graphs call it directly."""
    t = node.target
    return t if isinstance(t, torch._ops.OpOverload) else getattr(t, "_op", t)

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch.fx import Node


@dataclass(frozen=True)
class Rule:
    name: str
    targets: tuple  # ATen overloads (edge ops are matched through the overload they wrap)
    lower: Callable  # (Lowering, Node) -> value
    check: Callable[[Node], str | None] = lambda node: None  # None: supported; else the one-line reason


def shape(node) -> tuple[int, ...]:
    return tuple(int(d) for d in node.meta["val"].shape)


def norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d

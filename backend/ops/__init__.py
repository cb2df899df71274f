"""Op rules: for each family of edge operators, its conditions on shapes and arguments (`check` returns the one-line
reason it cannot take a node) and how it lowers the node to IR ops (`lower`, which may raise LoweringError for what
it finds while building). The lowering runs `check` then `lower`; the partitioner runs the lowering itself on each
proposed partition, so what is delegated is exactly what lowers. Adding an operator: README ("Add an operator").

The registry is this explicit list, not import side effects: a rule missing here is visibly missing.
"""
from __future__ import annotations

from . import activation, elementwise, linear, matmul, movement, norm, reduce
from .rule import Rule

RULES: list[Rule] = [
    linear.LINEAR, linear.ADDMM, linear.CONV,
    matmul.MATMUL,
    norm.LAYER_NORM,
    activation.GELU, activation.RELU, activation.SOFTMAX,
    elementwise.ADD, elementwise.MUL_SCALAR,
    reduce.MEAN,
    *movement.RULES,
]

RULES_BY_TARGET = {t: r for r in RULES for t in r.targets}
MOVEMENT_TARGETS = {t for r in movement.RULES for t in r.targets}

__all__ = ["RULES", "RULES_BY_TARGET", "MOVEMENT_TARGETS", "Rule"]

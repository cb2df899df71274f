"""Searches over architecture values; they ask predictors (accuracy, memory) and never touch the supernet."""

from .common import AccuracyFn, Budget, Candidate, MemoryCache, inherited_accuracy
from .evolution import EvoConfig, EvoResult, evolutionary_search
from .shape_only import ShapeOnlyReport, shape_only_search
from .space_evolution import SpaceEvoConfig, SpaceEvoResult, evolve_space

__all__ = [
    "AccuracyFn", "Budget", "Candidate", "MemoryCache", "inherited_accuracy",
    "EvoConfig", "EvoResult", "evolutionary_search",
    "SpaceEvoConfig", "SpaceEvoResult", "evolve_space",
    "ShapeOnlyReport", "shape_only_search",
]

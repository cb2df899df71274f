"""Predictors the search asks about an architecture (memory: the backend's own planner)."""

from .memory import (MemoryEstimate, MemoryFn, PlannerUnavailable, paper_formula_bytes, paper_formula_predictor,
                     planner_predictor, sram_need)

__all__ = ["MemoryEstimate", "MemoryFn", "PlannerUnavailable", "planner_predictor", "paper_formula_bytes",
           "paper_formula_predictor", "sram_need"]

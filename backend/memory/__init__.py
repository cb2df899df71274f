"""Memory: liveness analysis (buffer records) -> placement (pure planners, by name) -> plan applied to the IR."""
from .liveness import Buffer, buffers
from .planner import PLANNERS, Placement, check_plan, plan_program

__all__ = ["Buffer", "buffers", "PLANNERS", "Placement", "check_plan", "plan_program"]

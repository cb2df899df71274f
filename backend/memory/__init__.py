"""Memory: liveness analysis (buffer records) -> placement (pure planners, by name) -> plan applied to the IR."""
from .liveness import Buffer, buffers
from .liveness import live_bytes, live_set_bound
from .planner import PLANNERS, Placement, check_plan, place, plan_program

__all__ = ["Buffer", "buffers", "live_bytes", "live_set_bound", "PLANNERS", "Placement", "check_plan", "place",
           "plan_program"]
from .report import MemoryReport, memory_main, report_of  # noqa: E402
from .vit import build_vit_ir, plan_vit, planned_vit  # noqa: E402

__all__ += ["MemoryReport", "memory_main", "report_of", "build_vit_ir", "plan_vit", "planned_vit"]

"""MCUFormerBackend.preprocess: the ahead-of-time stages in order.

edge partition --lower--> IR --passes (fuse / schedule)--> IR --plan--> offsets --serialize--> blob
"""
from __future__ import annotations

from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec
from torch.export import ExportedProgram

from . import ir
from .lowering import Lowering
from .passes import plan_within_budget
from .ops import RULES_BY_TARGET
from .serialization.serialize import serialize


def compile_options(compile_specs: list[CompileSpec]) -> dict:
    opts = {"overwrite_input": False, "sram_budget": None, "target": None}
    for spec in compile_specs:
        if spec.key == "overwrite_input":
            opts["overwrite_input"] = bool(spec.value[0]) if spec.value else False
        elif spec.key == "sram_budget":
            opts["sram_budget"] = int.from_bytes(spec.value, "little")
        elif spec.key == "target":
            opts["target"] = spec.value.decode()
    return opts


def lower_program(edge_program: ExportedProgram, overwrite_input: bool = False,
                  sram_budget: int | None = None, target: str | None = None) -> ir.Program:
    """Lowers and plans a delegated partition; the IR it returns is exactly what the blob holds.

    sram_budget bounds the planned memory (input pool + arena) token loops may fill with multi-row tiles (0: one row
    per iteration); target (a board name) sets it to the board's SRAM less the firmware's needs for this program's
    outputs; neither: the default board's (memory.plan_within_budget, as plan_vit)."""
    def build() -> ir.Program:
        program = Lowering(edge_program, RULES_BY_TARGET).run()
        program.input_overwrite = overwrite_input and any(program.tensors[i].dtype == "int8" for i in program.inputs)
        return program

    return plan_within_budget(build, sram_budget, target)[0]


class MCUFormerBackend(BackendDetails):
    @staticmethod
    def preprocess(edge_program: ExportedProgram, compile_specs: list[CompileSpec]) -> PreprocessResult:
        opts = compile_options(compile_specs)
        program = lower_program(edge_program, **opts)
        return PreprocessResult(processed_bytes=serialize(program))

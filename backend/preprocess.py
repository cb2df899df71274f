"""MCUFormerBackend.preprocess: the ahead-of-time stages in order.

edge partition --lower--> IR --passes (fuse / schedule)--> IR --plan--> offsets --serialize--> blob
"""
from __future__ import annotations

from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec
from torch.export import ExportedProgram

from . import ir
from .lowering import Lowering
from .memory import plan_program
from .ops import RULES_BY_TARGET
from .passes import run_passes
from .passes.tile_tokens import tile_report
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

    sram_budget bounds the planned memory (input pool + arena); target (a board name) sets it to the board's SRAM
    less the firmware's needs for this program's outputs. The tile choice already checks its plan; should the
    blob's plan (after the later passes) still exceed the budget, the budget given to the tile choice shrinks by the
    excess until it fits (or no tiles are left)."""
    budget = None
    while True:
        program = Lowering(edge_program, RULES_BY_TARGET).run()
        program.input_overwrite = overwrite_input and any(program.tensors[i].dtype == "int8" for i in program.inputs)
        if target is not None and sram_budget is None:
            from mcuformer.targets import model_sram_budget  # noqa: PLC0415 - reads the calibration

            sram_budget = model_sram_budget(target, sum(program.tensors[i].numel for i in program.outputs))
        budget = sram_budget if budget is None else budget
        program = run_passes(program, sram_budget=budget)
        plan_program(program)
        excess = program.input_pool_bytes + program.arena_bytes - (sram_budget or 0)
        if sram_budget is None or excess <= 0 or all(s["rows"] == 1 for s in tile_report(program)):
            return program
        budget -= excess


class MCUFormerBackend(BackendDetails):
    @staticmethod
    def preprocess(edge_program: ExportedProgram, compile_specs: list[CompileSpec]) -> PreprocessResult:
        opts = compile_options(compile_specs)
        program = lower_program(edge_program, **opts)
        return PreprocessResult(processed_bytes=serialize(program))

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
from .serialization.serialize import serialize


def compile_options(compile_specs: list[CompileSpec]) -> dict:
    opts = {"overwrite_input": False}
    for spec in compile_specs:
        if spec.key == "overwrite_input":
            opts["overwrite_input"] = bool(spec.value[0]) if spec.value else False
    return opts


def lower_program(edge_program: ExportedProgram, overwrite_input: bool = False) -> ir.Program:
    """Lowers and plans a delegated partition; the IR it returns is exactly what the blob holds."""
    program = Lowering(edge_program, RULES_BY_TARGET).run()
    program.input_overwrite = overwrite_input and any(program.tensors[i].dtype == "int8" for i in program.inputs)
    program = run_passes(program)
    plan_program(program)
    return program


class MCUFormerBackend(BackendDetails):
    @staticmethod
    def preprocess(edge_program: ExportedProgram, compile_specs: list[CompileSpec]) -> PreprocessResult:
        opts = compile_options(compile_specs)
        program = lower_program(edge_program, **opts)
        return PreprocessResult(processed_bytes=serialize(program))

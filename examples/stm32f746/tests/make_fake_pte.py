"""TEST-ONLY: writes a `.pte` whose single method is one call to a delegate with id "MCUFormerBackend".

The delegate blob is NOT the real MCUFormer format: it is the tiny format understood by `stub_runtime.cpp` (next to
this file), so the firmware's loader, budgets, runner and profiler can be tested before/independently of the real
backend. Never import this module in a process that also imports `mcuformer.backend`: ExecuTorch looks backends up
by class name among BackendDetails' direct subclasses, and this file defines a fake class of the same name. The tests
run it as a subprocess:

    python make_fake_pte.py OUT.pte --in-numel 8 --out-numel 4 --arena-bytes 4096 [--pad-bytes N] [--inline]
                            [--overrun-bytes N] [--stack-bytes N]

Fake blob layout (little endian): "MCFT", u32 version=1, u32 arena_bytes, u32 in_numel, u32 out_numel, u32 pad_bytes,
u32 overrun_bytes, u32 stack_bytes, then pad_bytes bytes (i*7 & 0xff) standing in for weights. The stub runs
out[j] = 2 * in[j % in_numel] + j. Fault injection for the guard tests: overrun_bytes > 0 makes it write that many
bytes past the end of its arena, overrun_bytes < 0 (stored as int32) that many bytes before its start; stack_bytes > 0
makes it touch that many bytes of stack.
"""
from __future__ import annotations

import argparse
import struct
import sys


def fake_blob(arena_bytes: int, in_numel: int, out_numel: int, pad_bytes: int, overrun_bytes: int = 0,
              stack_bytes: int = 0) -> bytes:
    head = b"MCFT" + struct.pack("<5IiI", 1, arena_bytes, in_numel, out_numel, pad_bytes, overrun_bytes, stack_bytes)
    return head + bytes((i * 7) & 0xFF for i in range(pad_bytes))


def fake_reference(inputs, out_numel: int):
    """numpy reference of the stub's computation, inputs shaped [batch, in_numel]."""
    import numpy as np

    x = np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
    idx = np.arange(out_numel) % x.shape[1]
    return (x[:, idx] * np.float32(2) + np.arange(out_numel, dtype=np.float32)).astype(np.float32)


def build(out: str, in_numel: int, out_numel: int, arena_bytes: int, pad_bytes: int, inline: bool,
          overrun_bytes: int = 0, stack_bytes: int = 0) -> None:
    import torch
    from executorch.exir import ExecutorchBackendConfig, to_edge
    from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
    from executorch.exir.backend.compile_spec_schema import CompileSpec
    from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult
    from executorch.exir.backend.utils import tag_constant_data

    class MCUFormerBackend(BackendDetails):  # noqa: N801 - name must equal the backend id
        @staticmethod
        def preprocess(edge_program, compile_specs):
            spec = {s.key: int.from_bytes(s.value, "little", signed=True) for s in compile_specs}
            return PreprocessResult(
                processed_bytes=fake_blob(spec["arena_bytes"], spec["in_numel"], spec["out_numel"], spec["pad_bytes"],
                                          spec["overrun_bytes"], spec["stack_bytes"])
            )

    specs = [CompileSpec(k, int(v).to_bytes(4, "little", signed=True)) for k, v in
             dict(arena_bytes=arena_bytes, in_numel=in_numel, out_numel=out_numel, pad_bytes=pad_bytes,
                  overrun_bytes=overrun_bytes, stack_bytes=stack_bytes).items()]

    class TagAll(Partitioner):
        def partition(self, ep):
            tags = {}
            for node in ep.graph_module.graph.nodes:
                if node.op == "call_function":
                    node.meta["delegation_tag"] = "tag0"
                    tags["tag0"] = DelegationSpec("MCUFormerBackend", specs)
            tag_constant_data(ep)
            return PartitionResult(tagged_exported_program=ep, partition_tags=tags)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(in_numel, out_numel)

        def forward(self, x):
            return self.lin(x)

    ep = torch.export.export(Tiny().eval(), (torch.randn(1, in_numel),), strict=True)
    edge = to_edge(ep).to_backend(TagAll())
    cfg = ExecutorchBackendConfig(extract_delegate_segments=not inline)
    with open(out, "wb") as f:
        f.write(edge.to_executorch(cfg).buffer)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--in-numel", type=int, default=8)
    ap.add_argument("--out-numel", type=int, default=4)
    ap.add_argument("--arena-bytes", type=int, default=4096)
    ap.add_argument("--pad-bytes", type=int, default=0)
    ap.add_argument("--overrun-bytes", type=int, default=0)
    ap.add_argument("--stack-bytes", type=int, default=0)
    ap.add_argument("--inline", action="store_true", help="keep the delegate blob inline (default: a segment)")
    a = ap.parse_args(argv)
    build(a.out, a.in_numel, a.out_numel, a.arena_bytes, a.pad_bytes, a.inline, a.overrun_bytes, a.stack_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

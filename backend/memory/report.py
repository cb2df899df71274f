"""Memory reports: `report_of(program, placement)` and the `mcuformer memory MODEL.pte` command (`memory_main`).

    mcuformer memory model.pte [--json FILE] [--png FILE] [--budget BYTES]

prints the arena, the input (and whether it counts against SRAM), the live-set bound, the placement efficiency,
the peak step and its buffers, the tile of every token loop (rows per kernel call) with its predicted instructions; --png draws live bytes per step with the budget line and the arena layout (buffers
as rectangles over steps); --json writes the report (arena_bytes, bound_bytes, input_bytes, input_in_sram,
total_sram_bytes, flash_bytes, tiles, predicted_instructions, ...).

SRAM: an int8 image the plan overwrites (the input pool) is part of the plan's memory, so it sits in SRAM; an input
the delegate only reads (a float frame quantized patch row by patch row, an int8 image it may not overwrite) is
read in place from the caller's buffer (on the device the frame buffer, e.g. SDRAM) and is not counted.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, field

from ..ir import DTYPE_SIZE, Program
from .liveness import buffers, live_bytes, live_set_bound


@dataclass
class MemoryReport:
    arena_bytes: int  # the arena the runtime needs (past the input pool)
    bound_bytes: int  # live-set lower bound over the planned buffers (the pool input included when overwritten)
    input_bytes: int  # the delegate's input buffers (the caller's; the pool when overwritten)
    total_sram_bytes: int  # input pool (the overwritten input, when input_in_sram) + arena_bytes
    flash_bytes: int  # constants: weights, biases, multipliers, tables
    input_pool_bytes: int = 0
    input_in_sram: bool = False  # the input is the pool the plan overwrites (else it is read in place)
    planned_bytes: int = 0  # input pool + arena: what the bound is compared with
    efficiency: float = 1.0  # planned_bytes / bound_bytes
    planner: str = ""
    peak_step: int = 0
    peak_op: str = ""
    peak_buffers: list = field(default_factory=list)  # [(name, bytes)] live at the peak step
    live_bytes: list = field(default_factory=list)  # per step
    layout: list = field(default_factory=list)  # [(name, offset, size, first, last)]
    paper_formula_bytes: int | None = None
    # of a blob (`mcuformer memory`): every token loop's tile [{stage, rows, iterations, predicted_instructions}] and
    # the whole inference's predicted Cortex-M7 instructions, by the shared cost model (backend/cost)
    tiles: list = field(default_factory=list)
    predicted_instructions: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        where = (f"in SRAM: the input pool of {self.input_pool_bytes:,d} B the plan overwrites" if self.input_in_sram
                 else "read in place from the caller's buffer (frame buffer): not in SRAM")
        lines = [f"arena            {self.arena_bytes:>10,d} B  (planner '{self.planner}')",
                 f"input            {self.input_bytes:>10,d} B  ({where})",
                 f"total SRAM       {self.total_sram_bytes:>10,d} B  (arena{' + input' if self.input_in_sram else ''})",
                 f"live-set bound   {self.bound_bytes:>10,d} B  (pool + arena = {self.planned_bytes:,d} B, "
                 f"efficiency {self.efficiency:.3f})",
                 f"flash            {self.flash_bytes:>10,d} B",
                 f"peak at step {self.peak_step} ({self.peak_op}):"]
        lines += [f"    {name:<48s} {size:>9,d} B" for name, size in self.peak_buffers]
        if self.tiles:
            lines.append("token loops (rows per tile x iterations, predicted instructions per inference):")
            lines += [f"    {t['stage']:<40s} {t['rows']:>4d} x {t['iterations']:<4d} {t['predicted_instructions']:>14,.0f}"
                      for t in self.tiles]
        if self.predicted_instructions is not None:
            lines.append(f"predicted        {self.predicted_instructions:>14,.0f} instructions per inference (Cortex-M7)")
        return "\n".join(lines)


def report_of(program: Program, placement=None, arch=None) -> MemoryReport:
    bufs = list(getattr(placement, "buffers", ()) or ()) or buffers(program)
    live = live_bytes(bufs)
    pool = program.input_pool_bytes
    bound = live_set_bound(bufs, pool)
    peak = max(range(len(live)), key=lambda i: live[i]) if live else 0
    planned = pool + program.arena_bytes
    inputs = sum(program.tensors[i].nbytes for i in program.inputs)
    step_op = program.ops[peak] if program.ops else None
    peak_bufs = sorted(((program.tensors[b.tid].name, b.size) for b in bufs if b.first <= peak <= b.last),
                       key=lambda x: -x[1])
    layout = [(program.tensors[b.tid].name, int(program.tensors[b.tid].offset or 0), b.size, b.first, b.last)
              for b in bufs]
    rep = MemoryReport(
        arena_bytes=int(program.arena_bytes), bound_bytes=int(bound), input_bytes=int(inputs),
        total_sram_bytes=int(planned), flash_bytes=int(program.weight_bytes()), input_pool_bytes=int(pool),
        input_in_sram=pool > 0, planned_bytes=int(planned), efficiency=planned / bound if bound else 1.0,
        planner=getattr(placement, "planner", ""), peak_step=peak,
        peak_op=f"{step_op.kind} {step_op.name}" if step_op else "", peak_buffers=peak_bufs, live_bytes=live,
        layout=layout)
    if arch is not None:
        e, n = arch.embed_dim, arch.num_patches
        rep.paper_formula_bytes = int(round(max(e * ((n + 1) * (1 + m) + e * m * r)
                                                for m, r in zip(arch.mlp_ratio, arch.rank_ratio))))
    return rep


def delegate_blobs(pte: bytes) -> list[bytes]:
    """The MCUFormerBackend blobs inside a .pte (inline data or segments)."""
    from executorch.exir._serialize._flatbuffer_program import _flatbuffer_to_program
    from executorch.exir._serialize._program import _get_extended_header

    header = _get_extended_header(pte)
    fb_end = header.program_size if header is not None else len(pte)
    program = _flatbuffer_to_program(pte[:fb_end])
    blobs = []
    for plan in program.execution_plan:
        for d in plan.delegates:
            if d.id != "MCUFormerBackend":
                continue
            loc = d.processed
            if int(loc.location) == 0:  # INLINE
                blobs.append(bytes(program.backend_delegate_data[loc.index].data))
            else:
                seg = program.segments[loc.index]
                start = header.segment_base_offset + seg.offset
                blobs.append(pte[start:start + seg.size])
    return blobs


def plot(rep: MemoryReport, path: str, budget: int | None = None, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 8))
    a1.step(range(len(rep.live_bytes)), [v / 1024 for v in rep.live_bytes], where="mid", label="live bytes (bound)")
    a1.axhline(rep.planned_bytes / 1024, color="tab:orange", ls="--", label=f"pool + arena {rep.planned_bytes:,d} B")
    if budget:
        a1.axhline(budget / 1024, color="tab:red", label=f"budget {budget:,d} B")
    a1.axvline(rep.peak_step, color="gray", lw=0.5)
    a1.set_xlabel("step (op)")
    a1.set_ylabel("KiB")
    a1.set_title(title or "live bytes per step")
    a1.legend(loc="upper right", fontsize=8)
    top = 1
    for i, (name, off, size, first, last) in enumerate(rep.layout):
        a2.add_patch(Rectangle((first, off / 1024), last - first + 1, size / 1024, alpha=0.6,
                               color=plt.cm.tab20(i % 20), lw=0.3, ec="k"))
        top = max(top, off + size)
    if rep.input_pool_bytes:
        a2.axhline(rep.input_pool_bytes / 1024, color="k", ls=":", lw=0.8, label="input pool end")
        a2.legend(loc="upper right", fontsize=8)
    a2.set_xlim(0, max(len(rep.live_bytes), 1))
    a2.set_ylim(0, top / 1024 * 1.05)
    a2.set_xlabel("step (op)")
    a2.set_ylabel("offset (KiB)")
    a2.set_title("arena layout: buffers as (lifetime x size) rectangles")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def memory_main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="mcuformer memory", description="Memory report of a .pte's MCUFormer delegates")
    ap.add_argument("pte")
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--png")
    ap.add_argument("--budget", type=int, default=None, help="SRAM budget in bytes (plotted; exit 1 if exceeded)")
    args = ap.parse_args(argv)
    from ..serialization.serialize import deserialize

    data = open(args.pte, "rb").read()
    blobs = delegate_blobs(data)
    if not blobs:
        print(f"{args.pte}: no MCUFormerBackend delegate found", file=sys.stderr)
        return 2
    reports = []
    for k, blob in enumerate(blobs):
        program = deserialize(blob)
        try:
            rep = blob_report(program)
        except ValueError as e:
            print(f"{args.pte}: {e}", file=sys.stderr)
            return 1
        reports.append(rep)
        print(f"== delegate {k} ({len(program.ops)} ops) ==")
        print(rep.summary())
        if args.png:
            path = args.png if len(blobs) == 1 else args.png.replace(".png", f"_{k}.png")
            plot(rep, path, args.budget, f"{args.pte} delegate {k}")
    if args.json_path:
        payload = reports[0].to_dict() if len(reports) == 1 else {"delegates": [r.to_dict() for r in reports]}
        if len(reports) > 1:
            for key in ("arena_bytes", "bound_bytes", "input_bytes", "total_sram_bytes", "flash_bytes"):
                payload[key] = max(r.to_dict()[key] for r in reports)
            payload["input_in_sram"] = any(r.input_in_sram for r in reports)
        from mcuformer.io import write_json_atomic  # noqa: PLC0415  (a failed write keeps the previous report)

        write_json_atomic(args.json_path, payload, indent=1)
    total = max(r.total_sram_bytes for r in reports)
    if args.budget is not None and total > args.budget:
        print(f"total SRAM {total:,d} B exceeds the budget {args.budget:,d} B", file=sys.stderr)
        return 1
    return 0


def blob_report(program: Program) -> MemoryReport:
    """The report of a deserialized blob. The blob carries the planner's buffer records (views, anchors), so this
    is the very report (arena, pool-aware live-set bound, layout) the compiler made."""
    if not program.buffer_records:
        raise ValueError("this blob was lowered by an older mcuformer that did not record its buffers (views, "
                         "anchors): lower the model again for a memory report")
    from ..cost import default_model  # noqa: PLC0415
    from ..passes.tile_tokens import tile_report  # noqa: PLC0415

    rep = report_of(program)
    rep.planner = "from blob"
    rep.tiles = tile_report(program)
    try:
        rep.predicted_instructions = default_model().instructions(program)
    except KeyError:  # an op kind the calibration never saw: no whole-inference prediction
        rep.predicted_instructions = None
    return rep

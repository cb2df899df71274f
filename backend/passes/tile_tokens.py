"""Multi-token tiles: the token LOOPs of schedule_blocks run R rows per iteration, so each Linear / Matmul in them
is a GEMM over R rows (the Cortex-M7 kernels read each weight once per tile of up to 6 rows) and each op is
dispatched n / R times instead of n.

Every rewrite is exact (each op is the same op on more rows, on a slice of its output channels, or a copy):
  split_kv (always): K and V rows are written by per-head Linears straight into K [H, N, d] and V [H, N, d], instead
      of one Linear into a scratch row plus one Reshape copy per head and token.
  tile (stage -> R): a token LOOP of count n becomes LOOP n // R over R-row tiles + LOOP 1 over the n % R rows left.
      A tile's token rows are views of R consecutive rows; per-row scratch [.., 1, c] becomes [.., R, c]; a scratch
      row read per head (q, the attention output) is kept head-major [H, R, d], so each head's R rows are contiguous
      for the Matmuls: written by per-head Linears, read back token-major through one Permute.
  transpose_v (with a budget that holds a second V): V^T [H, d, N] by one Permute after the K/V loop, so attention
      x V reads rows of V^T (MATMUL transpose_b) like q.k^T reads rows of K: both on the multi-row GEMM core.

The tile of each stage is chosen by `choose_tiles(program, budget)`, a pure function: per stage the R with the
fewest predicted instructions (the shared cost model of backend/cost, the one the search's latency predictor uses)
whose live bytes fit the budget (stages run one after the other, so each stage's peak
depends only on its own tile). `run(program, sram_budget)` applies it for `sram_budget_of(program, sram_budget)`:
None is the default board's budget (mcuformer.targets.DEFAULT_BOARD), 0 keeps one row per iteration (the smallest
arena: the least SRAM the network runs in).
"""
from __future__ import annotations

import copy
from dataclasses import replace

from ..cost import CostModel, default_model
from ..cost.model import cost_key
from ..ir import Op, Program
from ._graph import in_loop, is_io, slice_rows, view

# Rows per tile tried for every stage (multiples of the cm7 GEMM's 6-row register tile, plus small ones).
CANDIDATES = (1, 2, 4, 6, 12, 24, 36, 48, 72, 145, 197)


class _NotTileable(Exception):
    pass


def stage_costs(program: Program, spans: dict[int, tuple[int, int]], model: CostModel | None = None) -> dict:
    """{stage: predicted Cortex-M7 instructions per inference of its ops [lo, hi)} by the shared cost model
    (backend/cost, the latency predictor's; LOOP bookkeeping is charged to the op that ran last, as QEMU's per-op
    counts charge it). An op of a kind it was not calibrated on (e.g. a Rescale that real ViTs fold away) counts 0:
    its elements are the same whatever the tile."""
    model = model or default_model()
    ops = {i for lo, hi in spans.values() for i in range(lo, hi) if cost_key(program.ops[i], program) in model.coef}
    cost = {k: v for k, _, v in model.op_instructions(program, ops)}
    return {s: sum(cost.get(i, 0.0) for i in range(lo, hi)) for s, (lo, hi) in spans.items()}


# ---------------------------------------------------------------------------------------------------------------
def _top_loops(program: Program) -> list[int]:
    inner = in_loop(program)
    return [k for k, op in enumerate(program.ops) if op.kind == "Loop" and k not in inner]


def _body_end(program: Program, k: int) -> int:
    return k + 1 + int(program.ops[k].params["body"])


def _split_kv(program: Program, k: int) -> None:
    """In the body of top-level loop k: Linear -> row Y, and LOOPs copying head slices of Y (one Reshape each,
    anywhere later in the body) ==> one Linear per head slice writing its destination directly."""
    head = program.ops[k]
    end = _body_end(program, k)
    strides = dict(zip(head.params["tensors"], head.params["strides"]))
    ops = program.ops
    tens = program.tensors
    copies: dict[int, list[int]] = {}  # Y -> loop indices of the copies reading it
    for j in range(k + 1, end - 1):
        if ops[j].kind == "Loop" and ops[j].params["body"] == 1 and ops[j + 1].kind == "Reshape":
            src = ops[j + 1].inputs[0]
            if tens[src].view_of is not None:
                copies.setdefault(tens[src].view_of[0], []).append(j)
    new_body = []
    dropped: set[int] = set()
    for i in range(k + 1, end):
        op = ops[i]
        if i in dropped:
            continue
        y = op.outputs[0] if op.kind == "Linear" else None
        mine = copies.get(y, [])
        readers = [o for o in ops[i + 1:end] if mine and any(
            t == y or (tens[t].view_of or (None,))[0] == y for t in o.inputs)]
        if not mine or len(readers) != len(mine):
            new_body.append(op)
            continue
        width = tens[y].shape[-1]
        lead = tens[y].shape[:-1]
        for c in mine:
            dropped.update((c, c + 1))
            lp, cp = ops[c], ops[c + 1]
            src, dst = cp.inputs[0], cp.outputs[0]
            ls = dict(zip(lp.params["tensors"], lp.params["strides"]))
            w = tens[src].numel
            parent, off = tens[dst].view_of
            for h in range(int(lp.params["count"])):
                lo = tens[src].view_of[1] + h * ls.get(src, 0)
                if lo + w > width:
                    raise ValueError(f"{cp.name}: head slice outside its row")
                out = view(program, parent, off + h * ls.get(dst, 0), (*lead, w), f"{tens[dst].name}{h}")
                if dst in strides:
                    strides[out] = strides[dst]
                new_body.append(Op("Linear", [op.inputs[0]] + slice_rows(program, op, lo, lo + w, f"{op.name}_h{lo}"),
                                   [out], dict(op.params), op.name))
    used = {t for o in new_body for t in o.inputs + o.outputs}
    for o in new_body:
        if o.kind == "Loop":
            used.update(o.params["tensors"])
    strides = {t: s for t, s in strides.items() if t in used}
    head = Op("Loop", [], [], {**head.params, "body": len(new_body), "tensors": list(strides),
                               "strides": list(strides.values())}, head.name)
    program.ops[k:end] = [head] + new_body


def split_kv(program: Program) -> Program:
    for k in reversed(_top_loops(program)):
        _split_kv(program, k)
    return program


def transpose_v(program: Program) -> Program:
    """V [H, N, d] ==> V^T [H, d, N] by one Permute after the loop that writes it: attention x V then reads rows of
    V^T like q.k^T reads rows of K (MATMUL transpose_b, the multi-row GEMM core) instead of columns of V. Costs a
    second V-sized buffer during the Permute: applied by `run` only when the budget holds it."""
    from ..memory.liveness import root_of

    tens = program.tensors
    tops = _top_loops(program)
    top_of = {}
    for k in tops:
        for j in range(k, _body_end(program, k)):
            top_of[j] = k
    users: dict[int, list[int]] = {}
    for j, op in enumerate(program.ops):
        for t in op.inputs + op.outputs:
            if program.is_planned(t):
                users.setdefault(root_of(program, t)[0], []).append(j)
    inserts = {}
    for j, op in enumerate(program.ops):
        if op.kind != "Matmul" or op.params.get("transpose_b") or j not in top_of:
            continue
        b = op.inputs[1]
        if tens[b].view_of is None:
            continue
        v, off = root_of(program, b)
        shape = tens[v].shape
        if len(shape) != 3 or tens[b].shape != shape[1:] or v in inserts or is_io(program, v):
            continue
        writers = [i for i in users[v] if v in {root_of(program, t)[0] for t in program.ops[i].outputs}]
        readers = [i for i in users[v] if i not in writers]
        if not writers or any(program.ops[i].kind != "Matmul" or program.ops[i].inputs[1] != b for i in readers):
            continue
        last = _body_end(program, top_of[writers[-1]]) if writers[-1] in top_of else writers[-1] + 1
        if min(readers) < last:
            continue
        vt = program.add_tensor(f"{tens[v].name}_T", (shape[0], shape[2], shape[1]), tens[v].dtype, tens[v].scale,
                                tens[v].zero_point)
        inserts[v] = (last, vt, b, off)
    if not inserts:
        return program
    for v, (last, vt, b, off) in inserts.items():
        bt = view(program, vt, off, (tens[b].shape[1], tens[b].shape[0]), f"{tens[b].name}_T", qsrc=b)
        for i, op in enumerate(program.ops):  # new Op objects: a forked program shares the old ones
            if op.kind == "Matmul" and op.inputs[1] == b:
                program.ops[i] = Op(op.kind, [op.inputs[0], bt], list(op.outputs), {**op.params, "transpose_b": True},
                                    op.name)
            elif op.kind == "Loop" and b in op.params["tensors"]:
                program.ops[i] = Op(op.kind, [], [], {**op.params, "tensors": [bt if t == b else t
                                                                              for t in op.params["tensors"]]}, op.name)
    ops = []
    at = {last: (v, vt) for v, (last, vt, _, _) in inserts.items()}
    for i, op in enumerate(program.ops + [None]):
        if i in at:
            v, vt = at[i]
            ops.append(Op("Permute", [v], [vt], {"perm": [0, 2, 1]}, f"{tens[v].name}_transpose"))
        if op is not None:
            ops.append(op)
    program.ops = ops
    return program


# ---------------------------------------------------------------------------------------------------------------
def _refs(p: Program, steps) -> dict[int, int]:
    """References per root buffer (a view counts for its parent) in ops `steps`, LOOP tensor lists included."""
    out: dict[int, int] = {}
    for j in steps:
        op = p.ops[j]
        for t in op.inputs + op.outputs + (list(op.params["tensors"]) if op.kind == "Loop" else []):
            r = t if p.tensors[t].view_of is None else p.tensors[t].view_of[0]
            out[r] = out.get(r, 0) + 1
    return out


def _tile_body(p: Program, k: int, rows: int, first: int, count: int, refs: dict[int, int]) -> list[Op]:
    """The body of top-level loop k over `rows` rows per iteration, starting at row `first`, `count` iterations
    (refs: _refs over the whole program)."""
    head = p.ops[k]
    body = p.ops[k + 1:_body_end(p, k)]
    strides = dict(zip(head.params["tensors"], head.params["strides"]))
    tens = p.tensors
    # per-row scratch: planned buffers written in the body (directly or through a view) and used nowhere else
    written = {t if tens[t].view_of is None else tens[t].view_of[0] for op in body for t in op.outputs}
    inside = _refs(p, range(k, _body_end(p, k)))
    scratch = {t for t in written if tens[t].view_of is None and t not in strides and p.is_planned(t)
               and not is_io(p, t) and refs.get(t, 0) == inside.get(t, 0)}
    referenced = {t for op in body for t in op.inputs + op.outputs}
    for op in body:
        if op.kind == "Loop":
            referenced.update(op.params["tensors"])
    head_views = {}  # scratch parent -> [views of it read per head]
    for t in referenced:
        v = tens[t].view_of
        if v is not None and v[0] in scratch:
            head_views.setdefault(v[0], []).append(t)
    split = {}  # scratch -> head width, for scratch rows read per head (head-major when rows > 1)
    for parent, vs in head_views.items():
        w = tens[vs[0]].shape[-1]
        c = tens[parent].shape[-1]
        if any(tens[v].shape[-1] != w or tens[v].numel != w or tens[v].view_of[1] % w for v in vs) or c % w:
            raise _NotTileable(f"{tens[parent].name}: views that are not whole heads")
        if rows > 1:
            split[parent] = w

    def rows_shape(shape):
        if len(shape) < 2 or shape[-2] != 1:
            raise _NotTileable(f"shape {shape} is not one row")
        return (*shape[:-2], rows, shape[-1])

    new: dict[int, int] = {}
    for t in sorted(referenced):
        tt = tens[t]
        if t in strides:
            if tt.view_of is None or strides[t] != tt.nbytes:
                raise _NotTileable(f"{tt.name}: rows not contiguous")
            new[t] = view(p, tt.view_of[0], tt.view_of[1] + first * strides[t], rows_shape(tt.shape),
                          f"{tt.name}_t{rows}", qsrc=t)
        elif t in scratch:
            shape = (tt.shape[-1] // split[t], rows, split[t]) if t in split else rows_shape(tt.shape)
            new[t] = p.add_tensor(f"{tt.name}_t{rows}", shape, tt.dtype, tt.scale, tt.zero_point)
        elif tt.view_of is not None and tt.view_of[0] in scratch:
            parent, off = tt.view_of
            w = tt.shape[-1]
            if parent in split:
                new[t] = view(p, new[parent], (off // w) * rows * w, (rows, w), f"{tt.name}_t{rows}", qsrc=t)
            elif rows == 1:  # same layout
                new[t] = view(p, new[parent], off, tt.shape, f"{tt.name}_t1", qsrc=t)
            else:  # a whole row (off 0)
                new[t] = view(p, new[parent], 0, rows_shape(tt.shape), f"{tt.name}_t{rows}", qsrc=t)
        elif tt.view_of is not None and any(tt.view_of[0] == s for s in strides):
            raise _NotTileable(f"{tt.name}: a view of a row")
    tokens = {}  # split scratch -> token-major copy, made once before its first whole-row reader

    out: list[Op] = []
    for op in body:
        m = lambda t: new.get(t, t)  # noqa: E731
        if op.kind == "Loop":
            ps = dict(op.params)
            sts = []
            for t, s in zip(ps["tensors"], ps["strides"]):
                v = tens[t].view_of
                if v is not None and v[0] in split:
                    if s % split[v[0]]:
                        raise _NotTileable(f"{tens[t].name}: head stride")
                    s *= rows
                elif rows > 1 and (t in strides or (v is not None and v[0] in scratch)):
                    raise _NotTileable(f"{tens[t].name}: strided by an inner loop")
                sts.append(s)
            ps["tensors"] = [m(t) for t in ps["tensors"]]
            ps["strides"] = sts
            out.append(Op("Loop", [], [], ps, op.name))
            continue
        ins = []
        for t in op.inputs:
            if t in split:
                if t not in tokens:
                    h, w = tens[t].shape[-1] // split[t], split[t]
                    tok = new[t]
                    if h > 1:  # one head: head-major is token-major already
                        tok = p.add_tensor(f"{tens[t].name}_tokens{rows}", (rows, h, w), tens[t].dtype,
                                           tens[t].scale, tens[t].zero_point)
                        out.append(Op("Permute", [new[t]], [tok], {"perm": [1, 0, 2]}, f"{op.name}_heads_to_tokens"))
                    tokens[t] = view(p, tok, 0, rows_shape(tens[t].shape), f"{tens[t].name}_tokrow{rows}", qsrc=t)
                ins.append(tokens[t])
            else:
                ins.append(m(t))
        y = op.outputs[0]
        if y in split and split[y] < tens[y].shape[-1]:  # written whole: one Linear per head, head-major rows
            if op.kind != "Linear":
                raise _NotTileable(f"{op.name}: a {op.kind} writes a head-split row")
            w = split[y]
            for h in range(tens[y].shape[-1] // w):
                oh = view(p, new[y], h * rows * w, (1, rows, w), f"{tens[y].name}_h{h}_t{rows}", qsrc=y)
                out.append(Op("Linear", [ins[0]] + slice_rows(p, op, h * w, (h + 1) * w, f"{op.name}_h{h}"),
                              [oh], dict(op.params), op.name))
            continue
        out.append(Op(op.kind, ins, [m(t) for t in op.outputs], dict(op.params), op.name))
    st = {new[t]: s * rows for t, s in strides.items()}
    return [Op("Loop", [], [], {"count": int(count), "body": len(out), "tensors": list(st),
                                "strides": list(st.values())}, f"{head.name}_t{rows}")] + out


def _tile(program: Program, k: int, rows: int, refs: dict[int, int]) -> list[Op]:
    n = int(program.ops[k].params["count"])
    rows = min(rows, n)
    q, r = divmod(n, rows)
    out = _tile_body(program, k, rows, 0, q, refs)
    if r:
        out += _tile_body(program, k, r, q * rows, 1, refs)
    return out


def _fork(program: Program, planned: bool = False) -> Program:
    """A copy that tiling may change without touching `program` (tiling only appends tensors and makes new ops);
    planned=True also copies the tensors, whose offsets planning sets (constant data stays shared)."""
    p = copy.copy(program)
    p.tensors = [copy.copy(t) for t in program.tensors] if planned else list(program.tensors)
    p.ops = list(program.ops)
    p.memory_anchors = dict(program.memory_anchors)
    return p


def stages(program: Program) -> list[int]:
    """Indices of the top-level token loops that can run several rows per iteration."""
    out = []
    refs = _refs(program, range(len(program.ops)))
    for k in _top_loops(program):
        if int(program.ops[k].params["count"]) < 2:
            continue
        try:
            _tile_body(_fork(program), k, 2, 0, 1, refs)
        except _NotTileable:
            continue
        out.append(k)
    return out


def tile(program: Program, rows: dict[int, int]) -> Program:
    """Program with the top-level loop at index k run `rows[k]` rows per iteration (rows 1: unchanged)."""
    ops = []
    k = 0
    refs = _refs(program, range(len(program.ops)))
    while k < len(program.ops):
        if k in rows and rows[k] > 1:
            ops += _tile(program, k, rows[k], refs)
            k = _body_end(program, k)
        else:
            ops.append(program.ops[k])
            k += 1
    program.ops = ops
    return program


def choose_tiles(program: Program, budget: int, model: CostModel | None = None, candidates=CANDIDATES) -> dict:
    """{stage loop index: rows}: per stage the candidate with the fewest predicted instructions (`stage_costs`: the
    shared cost model, or `model`) whose need (the
    live-set bound over the stage's steps, the input pool included) fits `budget` (bytes of planned memory: input
    pool + arena; the caller's own input and output buffers are not planned).
    Stages run one after another, so a stage's need depends on its own tile only: one tiled copy per candidate
    measures every stage. The choice is then placed by the planner; while the placed plan exceeds the budget, the
    stage with the largest need falls back to a smaller (need, rows). Pure: the program is not modified."""
    from ..memory.liveness import buffers, live_set_bound
    from ..memory.planner import plan_program, pool_bytes

    ks = stages(program)
    options = {k: [] for k in ks}  # stage -> [(need, cost, rows)] that fit the budget
    refs = _refs(program, range(len(program.ops)))
    for rows in candidates:
        p = _fork(program)
        spans = {}  # stage -> its ops [lo, hi) in the tiled copy
        ops, k = [], 0
        while k < len(p.ops):
            if k in options:
                new = _tile(p, k, rows, refs) if rows > 1 else p.ops[k:_body_end(p, k)]
                spans[k] = (len(ops), len(ops) + len(new))
                ops += new
                k = _body_end(p, k)
            else:
                ops.append(p.ops[k])
                k += 1
        p.ops = ops
        bufs, pool = buffers(p), pool_bytes(p)
        costs = stage_costs(p, spans, model)
        for k, (lo, hi) in spans.items():
            sub = [replace(b, first=max(b.first, lo), last=min(b.last, hi - 1), anchor=None) for b in bufs
                   if b.first < hi and b.last >= lo]
            need = live_set_bound(sub, pool)
            if need <= budget or rows == 1:
                options[k].append((need, costs[k], rows))
    choice = {k: min(opts, key=lambda o: (o[1], o[0])) for k, opts in options.items()}
    while True:
        p = tile(_fork(program, planned=True), {k: c[2] for k, c in choice.items()})
        plan_program(p)
        tiled = [k for k, c in choice.items() if c[2] > 1]
        if p.input_pool_bytes + p.arena_bytes <= budget or not tiled:
            return {k: c[2] for k, c in choice.items()}
        k = max(tiled, key=lambda j: choice[j][0])
        smaller = [o for o in options[k] if (o[0], o[2]) < (choice[k][0], choice[k][2])]  # rows 1 is always there
        choice[k] = min(smaller, key=lambda o: (o[1], o[0]))


def tile_report(program: Program, model: CostModel | None = None) -> list[dict]:
    """The tile of every top-level token loop (its ops [lo, hi), rows per kernel call, iterations) and its predicted
    instructions per inference (`stage_costs`), for memory reports: works on a program read back from a blob too (rows = the row count of the loop's first strided tensor,
    [..., rows, c] advanced by rows * c per iteration)."""
    out = []
    for k in _top_loops(program):
        op = program.ops[k]
        ts = op.params["tensors"]
        if not ts:
            continue
        t = program.tensors[ts[0]]
        if not 2 <= len(t.shape) <= 3 or t.shape[0] != 1 and len(t.shape) == 3 or op.params["strides"][0] != t.nbytes:
            continue  # not token rows (e.g. the image rows of the patch embedding)
        out.append({"stage": op.name or t.name, "rows": int(t.shape[-2]), "iterations": int(op.params["count"]),
                    "ops": [k, _body_end(program, k)]})
    costs = stage_costs(program, {j: tuple(s["ops"]) for j, s in enumerate(out)}, model)
    for j, s in enumerate(out):
        s["predicted_instructions"] = costs[j]
    return out


def check_budget_options(sram_budget: int | None, target: str | None) -> None:
    if sram_budget is not None and target is not None:
        raise ValueError("give sram_budget or target, not both")
    if sram_budget is not None and int(sram_budget) < 0:
        raise ValueError(f"sram_budget must be a number of bytes >= 0, got {sram_budget}")


def sram_budget_of(program: Program, sram_budget: int | None = None, target: str | None = None) -> int:
    """The bytes of planned memory (input pool + arena) the tiles may fill: `sram_budget` when given (0: one row per
    iteration), else the SRAM of `target` (default mcuformer.targets.DEFAULT_BOARD) less what the firmware itself
    needs for the program's outputs (`model_sram_budget`)."""
    check_budget_options(sram_budget, target)
    if sram_budget is not None:
        return int(sram_budget)
    from mcuformer.targets import DEFAULT_BOARD, model_sram_budget  # noqa: PLC0415 - reads the calibration

    return model_sram_budget(target or DEFAULT_BOARD, sum(program.tensors[i].numel for i in program.outputs))


def run(program: Program, sram_budget: int | None = None) -> Program:
    from ..memory.planner import plan_program

    program = split_kv(program)
    sram_budget = sram_budget_of(program, sram_budget)
    if sram_budget == 0:  # nothing to spend: skip the tile choice, whose every candidate would be refused
        return program
    vt = transpose_v(_fork(program, planned=True))
    plan_program(vt)
    if vt.input_pool_bytes + vt.arena_bytes <= sram_budget:
        program = vt
    return tile(program, choose_tiles(program, sram_budget))


__all__ = ["CANDIDATES", "check_budget_options", "choose_tiles", "stage_costs", "run", "split_kv", "sram_budget_of",
           "stages", "tile", "tile_report", "transpose_v"]

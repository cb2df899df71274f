"""Operator integration and token overwriting for transformer blocks.

Token-wise chain (MLP; any LayerNorm -> Linear/Lut/Rescale ... -> residual Add):
    LOOP token i < N:  LayerNorm(x_i) -> linear factors (GELU table fused) -> y;  x_i <- Add(x_i, y)   (in place)
Attention in canon_attention's form (LayerNorm -> shared factors -> q, k, v projections, each split into heads ->
q.k^T -> scale -> softmax -> .v -> heads merged -> proj -> +res):
    LOOP token j < N:  LayerNorm(x_j) -> factors -> k_j, v_j -> copied per head into K [H,N,d], V [H,N,d]
    LOOP query i < N:  LayerNorm(x_i) -> factors -> q_i (recomputed per row, never stored for all tokens)
                       LOOP head h < H: s = q_ih . K_h^T (a row of N) -> scale -> softmax -> o_ih = s . V_h
                       proj factors(o_i) -> y;  x_i <- Add(x_i, y)   (in place: row i is no longer needed by others)
Only the token buffer, K and V exist for all tokens; everything else is one token's scratch. Every op is the
unfused op on a row, with the same parameters: bit-exact with the unfused program.
"""
from __future__ import annotations

from ..ir import Op, Program
from ._graph import consumers, is_io, like, loop, make_view_of, view

TOKENWISE = {"Linear", "Lut", "Rescale"}


class _Match:
    def __init__(self, program: Program):
        self.p = program
        self.cons = consumers(program)

    def only(self, t: int):
        c = self.cons.get(t, [])
        if len(c) != 1 or is_io(self.p, t):
            return None
        return c[0]

    def chain(self, t: int, kinds=TOKENWISE):
        """Single-consumer token-wise ops from t; returns (op indices, last tensor)."""
        ks = []
        while True:
            j = self.only(t)
            if j is None or self.p.ops[j].kind not in kinds or self.p.ops[j].inputs[0] != t:
                return ks, t, j
            ks.append(j)
            t = self.p.ops[j].outputs[0]


def _residual(m: _Match, x: int, y: int, j):
    """The Add op index combining x and y (either order), or None."""
    if j is None:
        return None
    op = m.p.ops[j]
    if op.kind == "Add" and sorted(op.inputs) == sorted([x, y]) and x in m.cons and j in m.cons[x]:
        return j
    return None


def _emit_row_ops(p: Program, ks: list[int], src: int, name: str):
    """Copies of the token-wise ops ks on one row; returns (ops, last scratch tensor)."""
    out, cur = [], src
    for j in ks:
        op = p.ops[j]
        y = op.outputs[0]
        ys = like(p, y, (1, 1, p.tensors[y].shape[-1]), f"{p.tensors[y].name}_row")
        out.append(Op(op.kind, [cur] + op.inputs[1:], [ys], dict(op.params), op.name))
        cur = ys
    return out, cur


def _block_input(m: _Match, k: int, users: int):
    """(x, LayerNorm op or None) for a block anchored at op k: a LayerNorm reading x (pre-LN) or, post-LN, an op
    reading x directly; x is the token buffer [1, N, E], read by the block and its residual add (`users` ops)."""
    p = m.p
    op = p.ops[k]
    x = op.inputs[0]
    shape = p.tensors[x].shape
    if len(shape) != 3 or shape[0] != 1 or is_io(p, x) or p.tensors[x].is_constant:
        return None
    ln = op if op.kind == "LayerNorm" else None
    if len(m.cons.get(x, [])) != (2 if ln is not None else users):
        return None
    return x, ln


def _close(m: _Match, x: int, add: int, xin: int, ys: int, ln) -> tuple[list[Op], int, set]:
    """The residual add of row i written over x's row i; post-LN (no LayerNorm in front), the LayerNorm after the add
    joins the loop (it is per token). Returns (ops, the row view written, extra ops removed)."""
    p = m.p
    a = p.ops[add]
    e = p.tensors[x].shape[-1]
    tail = m.only(a.outputs[0]) if ln is None else None
    if tail is not None and (p.ops[tail].kind != "LayerNorm" or is_io(p, p.ops[tail].outputs[0])
                             or p.tensors[p.ops[tail].outputs[0]].shape != p.tensors[x].shape):
        tail = None
    final = a.outputs[0] if tail is None else p.ops[tail].outputs[0]
    make_view_of(p, final, x, 0)
    xout = view(p, final, 0, (1, 1, e), f"{p.tensors[final].name}_row")
    operands = [xin if t == x else ys for t in a.inputs]
    if tail is None:
        return [Op("Add", operands, [xout], dict(a.params), a.name)], xout, set()
    t = p.ops[tail]
    s = like(p, a.outputs[0], (1, 1, e), f"{a.name}_row")
    return [Op("Add", operands, [s], dict(a.params), a.name),
            Op("LayerNorm", [s] + t.inputs[1:], [xout], dict(t.params), t.name)], xout, {tail}


def _token_chain(m: _Match, k: int):
    """A token-wise chain from x (through a LayerNorm, or post-LN directly) closed by a residual add of x."""
    p = m.p
    hit = _block_input(m, k, 2)
    if hit is None:
        return None
    x, ln = hit
    if ln is not None:
        ks, y, j = m.chain(ln.outputs[0])
    elif p.ops[k].kind in TOKENWISE:
        more, y, j = m.chain(p.ops[k].outputs[0])
        ks = [k] + more
    else:
        return None
    add = _residual(m, x, y, j)
    shape = p.tensors[x].shape
    if add is None or not ks or p.tensors[y].shape != shape or is_io(p, p.ops[add].outputs[0]):
        return None
    n, e = shape[1], shape[2]
    xin = view(p, x, 0, (1, 1, e), f"{p.tensors[x].name}_row")
    body, cur = [], xin
    if ln is not None:
        cur = like(p, ln.outputs[0], (1, 1, e), f"{ln.name}_row")
        body.append(Op("LayerNorm", [xin] + ln.inputs[1:], [cur], dict(ln.params), ln.name))
    ops, ys = _emit_row_ops(p, ks, cur, p.ops[k].name)
    closing, xout, extra = _close(m, x, add, xin, ys, ln)
    body += ops + closing
    return {k, add, *ks, *extra}, k, loop(n, body, {xin: e, xout: e}, f"{p.ops[k].name}_tokens")


def _heads(m: _Match, flat: int, n: int):
    """(op indices, [1, H, N, d] tensor, H, d) when flat [1, N, H*d] is split into heads canonically
    (canon_attention: Reshape [1, N, H, d] -> Permute [0, 2, 1, 3], or one Reshape for a single head)."""
    p = m.p
    j = m.only(flat)
    if j is None or p.ops[j].kind != "Reshape":
        return None
    s = p.tensors[p.ops[j].outputs[0]].shape
    a = p.tensors[flat].shape[-1]
    if s == (1, 1, n, a):
        return [j], p.ops[j].outputs[0], 1, a
    jp = m.only(p.ops[j].outputs[0])
    if len(s) != 4 or s[:2] != (1, n) or jp is None or p.ops[jp].kind != "Permute" or \
            list(p.ops[jp].params["perm"]) != [0, 2, 1, 3]:
        return None
    return [j, jp], p.ops[jp].outputs[0], s[2], s[3]


def _merged_projection(m: _Match, o: int, heads: int, shape: tuple):
    """From o = s @ v [1, H, N, d]: the heads -> tokens transpose (none for one head), the Reshapes and the
    projection Linears in any order (canon_movement moves views past row-wise ops), ending in `shape`.
    Returns (movement op indices, Linear op indices, result, the op reading it)."""
    p = m.p
    moves, lins, t = [], [], o
    while True:
        j = m.only(t)
        if j is None:
            return moves, lins, t, None
        op = p.ops[j]
        if op.kind == "Permute" and not moves and not lins and heads > 1 and list(op.params["perm"]) == [0, 2, 1, 3]:
            moves.append(j)
        elif op.kind == "Reshape" and (heads == 1 or moves):
            moves.append(j)
        elif op.kind == "Linear" and op.inputs[0] == t and (heads == 1 or moves) and \
                p.tensors[t].numel == shape[1] * p.tensors[t].shape[-1]:  # its rows are the tokens
            lins.append(j)
        else:
            return (moves, lins, t, j) if p.tensors[t].shape == shape else (moves, [], t, None)
        t = op.outputs[0]


def _attention(m: _Match, k: int):
    p = m.p
    hit = _block_input(m, k, 4)  # post-LN: x feeds the q, k, v projections and the residual add
    if hit is None:
        return None
    x, ln = hit
    n, e = p.tensors[x].shape[1:]
    if ln is not None:
        pre, b, _ = m.chain(ln.outputs[0], {"Linear"})  # shared by q, k and v (a low-rank first factor)
        starts = m.cons.get(b, [])
    else:
        pre, b = [], x
        starts = [j for j in m.cons[x] if p.ops[j].kind == "Linear"]
        if k != min(starts, default=-1):
            return None
    if is_io(p, b) or len(starts) != 3:
        return None
    roles, split_ops = {}, []
    for j0 in starts:  # three projections from b, each split into heads
        if p.ops[j0].kind != "Linear" or p.ops[j0].inputs[0] != b:
            return None
        more, flat, _ = m.chain(p.ops[j0].outputs[0], {"Linear"})
        hit = _heads(m, flat, n)
        if hit is None:
            return None
        ops_h, t, heads, d = hit
        user = m.only(t)
        if user is None or p.ops[user].kind != "Matmul":
            return None
        role = "q" if p.ops[user].inputs[0] == t else "k" if p.ops[user].params.get("transpose_b") else "v"
        roles[role] = ([j0] + more, t, heads, d)
        split_ops += ops_h
    if sorted(roles) != ["k", "q", "v"] or len({(r[2], r[3]) for r in roles.values()}) != 1:
        return None
    heads, d = roles["q"][2], roles["q"][3]
    a_dim = heads * d
    q, kk, v = (roles[r][1] for r in "qkv")
    jm = m.only(q)
    if jm is None or m.only(kk) != jm:
        return None
    mm1 = p.ops[jm]
    if mm1.kind != "Matmul" or mm1.inputs != [q, kk] or not mm1.params.get("transpose_b"):
        return None
    score_ks, prob, j2 = m.chain(mm1.outputs[0], {"Rescale", "Softmax"})
    if j2 is None or m.only(v) != j2:
        return None
    mm2 = p.ops[j2]
    if mm2.kind != "Matmul" or mm2.inputs != [prob, v] or mm2.params.get("transpose_b"):
        return None
    merge_ks, proj_ks, y, ja = _merged_projection(m, mm2.outputs[0], heads, (1, n, e))
    add = _residual(m, x, y, ja)
    if add is None or not proj_ks or is_io(p, p.ops[add].outputs[0]):
        return None
    removed = {jm, j2, add, *pre, *split_ops, *score_ks, *merge_ks, *proj_ks} | {
        j for r in roles.values() for j in r[0]} | ({k} if ln is not None else set())

    # K and V for all tokens, head-major [H, N, d]
    name = p.ops[k].name
    kbuf = like(p, kk, (heads, n, d), f"{name}_K")
    vbuf = like(p, v, (heads, n, d), f"{name}_V")
    xin = view(p, x, 0, (1, 1, e), f"{p.tensors[x].name}_row")

    def qkv_rows(tag, branches):
        ops, cur = [], xin
        if ln is not None:
            cur = like(p, ln.outputs[0], (1, 1, e), f"{name}_{tag}")
            ops.append(Op("LayerNorm", [xin] + ln.inputs[1:], [cur], dict(ln.params), ln.name))
        more, cur = _emit_row_ops(p, pre, cur, f"{name}_{tag}")
        ops += more
        rows = []
        for r in branches:
            more, row = _emit_row_ops(p, roles[r][0], cur, f"{name}_{r}")
            ops += more
            rows.append(row)
        return ops, rows

    # pass 1: K and V rows, copied head by head into K and V
    ops1, (k_row, v_row) = qkv_rows("kv", "kv")
    ksrc, kdst = view(p, k_row, 0, (1, d), f"{name}_k_src"), view(p, kbuf, 0, (1, d), f"{name}_k_dst")
    vsrc, vdst = view(p, v_row, 0, (1, d), f"{name}_v_src"), view(p, vbuf, 0, (1, d), f"{name}_v_dst")
    ops1 += loop(heads, [Op("Reshape", [ksrc], [kdst], {}, f"{name}_k")], {ksrc: d, kdst: n * d}, "k_heads")
    ops1 += loop(heads, [Op("Reshape", [vsrc], [vdst], {}, f"{name}_v")], {vsrc: d, vdst: n * d}, "v_heads")
    new = loop(n, ops1, {xin: e, kdst: d, vdst: d}, f"{name}_kv_tokens")

    # pass 2: per query row
    ops2, (q_s,) = qkv_rows("q", "q")
    o_s = like(p, mm2.outputs[0], (1, 1, a_dim), f"{mm2.name}_row")
    qh, kh = view(p, q_s, 0, (1, d), f"{name}_q_h"), view(p, kbuf, 0, (n, d), f"{name}_K_h")
    vh, oh = view(p, vbuf, 0, (n, d), f"{name}_V_h"), view(p, o_s, 0, (1, d), f"{mm2.name}_o_h")
    s = like(p, mm1.outputs[0], (1, n), f"{mm1.name}_row")
    head = [Op("Matmul", [qh, kh], [s], dict(mm1.params), mm1.name)]
    for js in score_ks:
        op = p.ops[js]
        s2 = like(p, op.outputs[0], (1, n), f"{op.name}_row")
        head.append(Op(op.kind, [s] + op.inputs[1:], [s2], dict(op.params), op.name))
        s = s2
    head.append(Op("Matmul", [s, vh], [oh], dict(mm2.params), mm2.name))
    ops2 += loop(heads, head, {qh: d, kh: n * d, vh: n * d, oh: d}, f"{name}_heads")
    proj, ys = _emit_row_ops(p, proj_ks, o_s, "proj")
    ops2 += proj
    closing, xout, extra = _close(m, x, add, xin, ys, ln)
    ops2 += closing
    new += loop(n, ops2, {xin: e, xout: e}, f"{name}_queries")
    return removed | extra, k, new


def run(program: Program) -> Program:
    m = _Match(program)  # rewrites only add tensors and turn block outputs into views: one analysis serves all
    rewrites, taken = [], set()
    for k, op in enumerate(list(program.ops)):
        if op.kind not in ("LayerNorm", *TOKENWISE) or k in taken:
            continue  # a block starts at its LayerNorm (pre-LN) or at its first op reading x (post-LN)
        hit = _attention(m, k) or _token_chain(m, k)
        if hit is not None:
            rewrites.append(hit)
            taken |= hit[0]
    if not rewrites:
        return program
    starts = {at: new for _, at, new in rewrites}
    ops = []
    for k, op in enumerate(program.ops):
        if k in starts:
            ops.extend(starts[k])
        if k not in taken:
            ops.append(op)
    program.ops = ops
    return program

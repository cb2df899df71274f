"""Canonical attention: q, k and v as the heads of their own projection, recognised by where each element comes from.

However the model code splits heads (a fused qkv linear cut by reshape/permute/select or unbind, three projections
viewed and transposed, nn.MultiheadAttention's unflatten/transpose/view sequence, ...), attention is
    s = q @ k^T -> (Rescale | Softmax)* -> o = s @ v [1, H, N, d] -> heads merged [N, H*d] -> next op.
For each operand, the data-movement ops between the projection producing it (a Linear over tokens, [.., N, C]) and
the Matmul are run on element ids; when the ids say "element (h, i, j) is column off + h*d + j of token i", the
operand becomes the canonical form
    Linear(rows off .. off + H*d of the projection) [1, N, H*d] -> Reshape [1, N, H, d] -> Permute [0, 2, 1, 3]
(H == 1: one Reshape to [1, 1, N, d]), and k^T is read by the Matmul (transpose_b). The merge after o is checked the
same way and becomes Permute [0, 2, 1, 3] -> Reshape [1, N, H*d]. What schedule_blocks then sees does not depend on
how the model was written. Exact: a Linear restricted to some output rows computes exactly those rows, and moving
data by the same element map gives the same tensors.
"""
from __future__ import annotations

import numpy as np

from ..ir import Op, Program
from ..reference import KERNELS
from . import canon_movement
from ._graph import consumers, is_io, like, producers, slice_rows

MOVES = {"Reshape", "Permute", "Slice"}


def _trace_back(p: Program, prod: dict, t: int):
    """(source tensor, the movement ops from it to t, in order)."""
    chain = []
    while t in prod and p.ops[prod[t]].kind in MOVES:
        chain.append(prod[t])
        t = p.ops[prod[t]].inputs[0]
    return t, chain[::-1]


def _ids(p: Program, src: int, chain: list[int]) -> np.ndarray:
    """Where each element of the chain's result comes from: its flat index in src."""
    ids = np.arange(p.tensors[src].numel, dtype=np.int64).reshape(p.tensors[src].shape)
    for j in chain:
        op = p.ops[j]
        ids = KERNELS[op.kind]([ids], op.params, p.tensors[op.outputs[0]].shape)
    return ids


def _column_offset(ids: np.ndarray, c: int, heads: int, n: int, d: int) -> int | None:
    """off when ids[h, i, j] == i * c + off + h * d + j for all (h, i, j), else None."""
    r = ids.reshape(heads, n, d)
    off = int(r[0, 0, 0])
    if off < 0 or off + heads * d > c:
        return None
    want = np.arange(n)[None, :, None] * c + off + np.arange(heads)[:, None, None] * d + np.arange(d)
    return off if np.array_equal(r, want) else None


def _operand(p: Program, prod: dict, t: int, heads: int, n: int, d: int, transposed: bool):
    """(projection Linear index, column offset) when operand t is heads of a projection's output."""
    if p.tensors[t].numel != heads * n * d:
        return None
    src, chain = _trace_back(p, prod, t)
    if src not in prod or p.ops[prod[src]].kind != "Linear" or is_io(p, src):
        return None
    c = p.tensors[src].shape[-1]
    if p.tensors[src].numel != n * c:
        return None
    ids = _ids(p, src, chain)
    if transposed:  # k^T [.., H, d, N]
        ids = np.swapaxes(ids.reshape(heads, d, n), 1, 2)
    off = _column_offset(ids, c, heads, n, d)
    return None if off is None else (prod[src], off)


def _canonical_operand(p: Program, lin: int, off: int, heads: int, n: int, d: int, name: str):
    """New ops computing heads [off, off + heads*d) of projection `lin` as [1, heads, n, d]; returns (ops, tensor)."""
    op = p.ops[lin]
    s = op.outputs[0]
    a = heads * d
    ops = []
    if off == 0 and a == p.tensors[s].shape[-1]:
        flat = s
    else:
        flat = like(p, s, p.tensors[s].shape[:-1] + (a,), name)
        ops.append(Op("Linear", [op.inputs[0]] + slice_rows(p, op, off, off + a, name), [flat], dict(op.params),
                      op.name))
    if p.tensors[flat].shape != (1, n, a):
        flat2 = like(p, s, (1, n, a), f"{name}_tokens")
        ops.append(Op("Reshape", [flat], [flat2], {}, name))
        flat = flat2
    out = like(p, s, (1, heads, n, d), f"{name}_heads")
    if heads == 1:
        ops.append(Op("Reshape", [flat], [out], {}, name))
    else:
        split = like(p, s, (1, n, heads, d), f"{name}_split")
        ops += [Op("Reshape", [flat], [split], {}, name), Op("Permute", [split], [out], {"perm": [0, 2, 1, 3]}, name)]
    return ops, out


def _merge(p: Program, cons: dict, o: int, heads: int, n: int, d: int):
    """The movement ops after o = s @ v when they merge heads into [N, H*d] (in any shape): (op indices, result)."""
    chain, t = [], o
    while len(cons.get(t, [])) == 1 and not is_io(p, t) and p.ops[cons[t][0]].kind in MOVES:
        chain.append(cons[t][0])
        t = p.ops[cons[t][0]].outputs[0]
    if not chain:
        return None
    want = np.arange(heads * n * d).reshape(heads, n, d).transpose(1, 0, 2).ravel()
    return (chain, t) if np.array_equal(_ids(p, o, chain).ravel(), want) else None


def _rewrite_one(p: Program, done: set) -> bool:
    prod, cons = producers(p), consumers(p)
    for k1, mm1 in enumerate(p.ops):
        if mm1.kind != "Matmul" or id(mm1) in done:
            continue
        shape = p.tensors[mm1.outputs[0]].shape
        qshape = p.tensors[mm1.inputs[0]].shape
        if len(shape) != 4 or shape[0] != 1 or shape[2] != shape[3] or len(qshape) != 4:
            continue
        heads, n, d = qshape[1], qshape[2], qshape[3]
        t, k2 = mm1.outputs[0], None
        while len(cons.get(t, [])) == 1 and not is_io(p, t):
            j = cons[t][0]
            if p.ops[j].kind in ("Rescale", "Softmax"):
                t = p.ops[j].outputs[0]
                continue
            if p.ops[j].kind == "Matmul" and p.ops[j].inputs[0] == t and not p.ops[j].params.get("transpose_b"):
                k2 = j
            break
        if k2 is None or p.tensors[p.ops[k2].outputs[0]].shape != (1, heads, n, d):
            continue
        mm2 = p.ops[k2]
        q = _operand(p, prod, mm1.inputs[0], heads, n, d, False)
        k = _operand(p, prod, mm1.inputs[1], heads, n, d, not mm1.params.get("transpose_b"))
        v = _operand(p, prod, mm2.inputs[1], heads, n, d, False)
        merge = _merge(p, cons, mm2.outputs[0], heads, n, d)
        done.add(id(mm1))
        if q is None or k is None or v is None or merge is None:
            continue
        base = mm1.name
        q_ops, qt = _canonical_operand(p, *q, heads, n, d, f"{base}_q")
        k_ops, kt = _canonical_operand(p, *k, heads, n, d, f"{base}_k")
        v_ops, vt = _canonical_operand(p, *v, heads, n, d, f"{base}_v")
        mm1.inputs, mm1.params["transpose_b"] = [qt, kt], True
        mm2.inputs = [mm2.inputs[0], vt]
        chain, m = merge
        o = mm2.outputs[0]
        flat = like(p, o, (1, n, heads * d), f"{mm2.name}_merged")
        if heads == 1:
            merge_ops = [Op("Reshape", [o], [flat], {}, mm2.name)]
        else:
            tok = like(p, o, (1, n, heads, d), f"{mm2.name}_tokens")
            merge_ops = [Op("Permute", [o], [tok], {"perm": [0, 2, 1, 3]}, mm2.name),
                         Op("Reshape", [tok], [flat], {}, mm2.name)]
        merge_ops.append(Op("Reshape", [flat], [m], {}, mm2.name))  # same shape: canon_movement drops it
        ops = []
        for j, op in enumerate(p.ops):
            if j in chain:
                continue
            if j == k1:
                ops += q_ops + k_ops
            if j == k2:
                ops += v_ops
            ops.append(op)
            if j == k2:
                ops += merge_ops
        p.ops = ops
        return True
    return False


def run(program: Program) -> Program:
    done: set = set()
    changed = False
    while _rewrite_one(program, done):
        changed = True
    if changed:
        canon_movement.remove_dead(program)
    return program

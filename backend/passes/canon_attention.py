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

import functools

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


def _signature(p: Program, src: int, chain: list[int]) -> tuple:
    return (p.tensors[src].shape,) + tuple(
        (p.ops[j].kind, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in p.ops[j].params.items())),
         p.tensors[p.ops[j].outputs[0]].shape) for j in chain)


def _ids(signature: tuple) -> np.ndarray:
    """Where each element of a movement chain's result comes from: its flat index in the chain's source."""
    ids = np.arange(int(np.prod(signature[0])), dtype=np.int32).reshape(signature[0])
    for kind, params, shape in signature[1:]:
        ids = KERNELS[kind]([ids], {k: list(v) if isinstance(v, tuple) else v for k, v in params}, shape)
    return ids


# The checks are cached on the chain's signature (shapes and parameters): the same block shape repeats over the
# depth and over the candidates of a search (plan_vit), and the answers are small.
@functools.lru_cache(maxsize=4096)
def _column_offset(signature: tuple, transposed: bool, heads: int, n: int, d: int) -> int | None:
    """off when element (h, i, j) of the chain's result is ids[h, i, j] == i * c + off + h * d + j of its source
    [.., N, c] for all (h, i, j) (k^T [.., H, d, N] when transposed), else None."""
    c = signature[0][-1]
    ids = _ids(signature)
    if transposed:
        ids = np.swapaxes(ids.reshape(heads, d, n), 1, 2)
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
    if p.tensors[src].numel != n * p.tensors[src].shape[-1]:
        return None
    off = _column_offset(_signature(p, src, chain), transposed, heads, n, d)
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
    if not chain:  # one head: o's bytes are already the merged rows (canon_movement moved the view past them)
        return ([], None) if heads == 1 and not is_io(p, o) else None
    return (chain, t) if _merges_heads(_signature(p, o, chain), heads, n, d) else None


@functools.lru_cache(maxsize=4096)
def _merges_heads(signature: tuple, heads: int, n: int, d: int) -> bool:
    want = np.arange(heads * n * d).reshape(heads, n, d).transpose(1, 0, 2).ravel()
    return bool(np.array_equal(_ids(signature).ravel(), want))


def run(program: Program) -> Program:
    p = program
    prod, cons = producers(p), consumers(p)
    before, after, removed = {}, {}, set()  # new ops by op index; old merge ops
    for k1, mm1 in enumerate(p.ops):
        if mm1.kind != "Matmul":
            continue
        shape = p.tensors[mm1.outputs[0]].shape  # [.., H, N, N]: batch dims of size 1 (bmm: [H, N, N])
        if len(shape) < 3 or shape[-1] != shape[-2] or int(np.prod(shape[:-3])) != 1:
            continue
        heads, n, d = shape[-3], shape[-1], p.tensors[mm1.inputs[0]].shape[-1]
        t, k2, scores = mm1.outputs[0], None, [mm1.outputs[0]]
        while len(cons.get(t, [])) == 1 and not is_io(p, t):
            j = cons[t][0]
            if p.ops[j].kind in ("Rescale", "Softmax"):
                t = p.ops[j].outputs[0]
                scores.append(t)
                continue
            if p.ops[j].kind == "Matmul" and p.ops[j].inputs[0] == t and not p.ops[j].params.get("transpose_b"):
                k2 = j
            break
        if k2 is None or p.tensors[p.ops[k2].outputs[0]].numel != heads * n * d or \
                p.tensors[p.ops[k2].outputs[0]].shape[-2:] != (n, d):
            continue
        mm2 = p.ops[k2]
        q = _operand(p, prod, mm1.inputs[0], heads, n, d, False)
        k = _operand(p, prod, mm1.inputs[1], heads, n, d, not mm1.params.get("transpose_b"))
        v = _operand(p, prod, mm2.inputs[1], heads, n, d, False)
        merge = _merge(p, cons, mm2.outputs[0], heads, n, d)
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
        for t in scores:  # the same bytes seen as [1, H, N, N] / [1, H, N, d]
            p.tensors[t].shape = (1, heads, n, n)
        p.tensors[o].shape = (1, heads, n, d)
        flat = like(p, o, (1, n, heads * d), f"{mm2.name}_merged")
        if heads == 1:
            merge_ops = [Op("Reshape", [o], [flat], {}, mm2.name)]
        else:
            tok = like(p, o, (1, n, heads, d), f"{mm2.name}_tokens")
            merge_ops = [Op("Permute", [o], [tok], {"perm": [0, 2, 1, 3]}, mm2.name),
                         Op("Reshape", [tok], [flat], {}, mm2.name)]
        if m is None:  # the ops reading o read the merged rows instead
            for j in cons.get(o, []):
                p.ops[j].inputs = [flat if t == o else t for t in p.ops[j].inputs]
        else:
            merge_ops.append(Op("Reshape", [flat], [m], {}, mm2.name))  # same shape: canon_movement drops it
        before.setdefault(k1, []).extend(q_ops + k_ops)
        before.setdefault(k2, []).extend(v_ops)
        after[k2] = merge_ops
        removed.update(chain)
    if not after:
        return program
    ops = []
    for j, op in enumerate(p.ops):
        ops += before.get(j, [])
        if j not in removed:
            ops.append(op)
        ops += after.get(j, [])
    p.ops = ops
    canon_movement.remove_dead(p)  # the old projections and head splits
    return p

"""Cortex-M7 instructions of a scheduled `Program`, op by op, from op kinds, parameters and shapes alone.

Every op the firmware runs costs `sum_f coef[key][f] * feature_f` instructions per inference, where the features
(`features(program)`) are counts the kernels' loops scale with (calls, rows, output elements, padded MACs, ...) summed
over the op's calls, and `key` is the op kind (`Matmul` split by `transpose_b`: two different kernels). A few
features are the same for every kind and share one coefficient: operand addressing inside LOOPs (the runtime walks
every enclosing LOOP's tensor list per operand), LOOP entries and iterations (their bookkeeping runs between two
op markers, so QEMU's per-op counts charge it to the op that ran last). The coefficients are least-squares fits to
exact QEMU per-op counts of the real firmware (`benchmarks/bench_latency.py` writes `calibration.json`, stamped
with the hash of the runtime and firmware sources it was measured on: `runtime_sources_hash()`).

    model = CostModel.load()                       # the committed calibration
    model.instructions(program)                    # per inference (ops + the run's fixed cost)

To follow a new kernel, add or change a feature in `_KIND_FEATURES` (e.g. a tile size read from the op's LOOP) and
rerun the calibration command; nothing else here knows a kernel's shape.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from mcuformer.io import write_text_atomic

from ..ir import Op, Program

CALIBRATION = Path(__file__).with_name("calibration.json")
_REPO = Path(__file__).resolve().parents[2]
# What the instruction counts depend on: the runtime (kernels, interpreter), the firmware application (profiling
# marks, the loop around model_run) and the toolchain flags.
_COST_SOURCES = ("runtime", "examples/stm32f746")
_CODE = (".c", ".cc", ".cpp", ".h", ".hpp", ".S", ".ld", ".txt", ".cmake")

REGENERATE = ".venv/bin/python benchmarks/bench_latency.py"


def runtime_sources_hash(root: Path = _REPO) -> str:
    """sha256 (16 hex digits) of the runtime and firmware sources, by path and content."""
    h = hashlib.sha256()
    files = sorted(p for d in _COST_SOURCES for p in (root / d).rglob("*") if p.is_file() and p.suffix in _CODE)
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _ceil4(k: int) -> int:
    return (k + 3) // 4 * 4


# gemm.h: the multi-row GEMM core's tile buffer (words) and register tile (rows).
_TILE_WORDS = 6 * 768 // 2
_MAX_TILE_ROWS = 6


def _row_tiles(m: int, k: int) -> tuple[list[int], int]:
    """How LINEAR / MATMUL(transpose_b) split m rows of k inputs (linear.cpp, matmul.cpp): tiles of up to
    gemm::tile_rows(K) rows while 2 or more are left (when that is >= 4), each row left on the one-row path.
    Returns (rows of each tile, rows left)."""
    kp16 = (k + 15) // 16 * 16
    tile = min(_TILE_WORDS * 2 // kp16, _MAX_TILE_ROWS)
    tiles = []
    if tile >= 4:
        while m >= 2:
            tiles.append(min(m, tile))
            m -= tiles[-1]
    return tiles, m


def _gemm(m: int, n: int, k: int) -> dict[str, float]:
    """m rows against n weight rows of k inputs. One-row path (gemv.h): rows, widen, dot4, dot1. Tile path (gemm.h):
    per tile "tiles", its rows widened ("tile_widen", padded to 16), per weight row "tile_channels", per 4 inputs
    and weight row "tile_blocks" (1 LDR + 2 SXTB16), "tile_row_blocks" (per row: LDM + 2 SMLAD), "tile6_blocks" (the
    6-row assembly loop instead)."""
    tiles, single = _row_tiles(m, k)
    kp, nb = _ceil4(k), (k + 15) // 16 * 4
    return {"rows": single, "outputs": m * n, "widen": single * kp, "dot4": single * (n // 4) * kp,
            "dot1": single * (n % 4) * kp, "tiles": len(tiles), "tile_widen": sum(tiles) * nb * 4,
            "tile_channels": len(tiles) * n, "tile_blocks": sum(r < 6 for r in tiles) * n * nb,
            "tile_row_blocks": sum(r for r in tiles if r < 6) * n * nb,
            "tile6_blocks": sum(r == 6 for r in tiles) * n * nb}


def _streamed(m: int, n: int, k: int) -> dict[str, float]:
    """MATMUL(transpose_b) with m >= 6 rows of a and 6 rows of b in the tile buffer (matmul.cpp cols_transposed):
    per tile of up to 6 rows of b "col_tiles", its rows widened ("col_widen", padded to 16); per row of a and 6-row
    tile the assembly loop's "stream6_rows" (requantization, bookkeeping), "stream6_iters" (16 inputs) and
    "stream6_blocks" (4 inputs left); per row of a of the last, smaller tile "stream_rows" and per row of that tile
    and 4 inputs "stream_row_blocks" (gemm.h's C loop; every tile's when k < 13, which the assembly loop leaves)."""
    nb = -(-k // 4)
    full, rest = divmod(n, _MAX_TILE_ROWS) if nb >= 4 else (0, n)
    return {"outputs": m * n, "col_tiles": -(-n // _MAX_TILE_ROWS), "col_widen": n * ((k + 15) // 16 * 16),
            "stream6_rows": m * full, "stream6_iters": m * full * (nb // 4), "stream6_blocks": m * full * (nb % 4),
            "stream_rows": m * -(-rest // _MAX_TILE_ROWS), "stream_row_blocks": m * rest * nb}


def _linear(p: Program, op: Op) -> dict[str, float]:
    k, n = p.tensors[op.inputs[1]].shape[1], p.tensors[op.inputs[1]].shape[0]
    m = p.tensors[op.inputs[0]].numel // k
    return {**_gemm(m, n, k), "lut": m * n * bool(op.params.get("has_lut"))}


def _matmul(p: Program, op: Op) -> dict[str, float]:
    a, b = p.tensors[op.inputs[0]].shape, p.tensors[op.inputs[1]].shape
    batch = int(np.prod(a[:-2], dtype=np.int64)) if len(a) > 2 else 1
    m, k = (a[-2], a[-1]) if len(a) >= 2 else (1, a[-1])
    n = b[-2] if op.params.get("transpose_b") else b[-1]
    if op.params.get("transpose_b"):  # rows of b like linear weights, per batch
        streamed = m >= _MAX_TILE_ROWS and _TILE_WORDS * 2 // ((k + 15) // 16 * 16) >= _MAX_TILE_ROWS
        return {f: batch * v for f, v in (_streamed(m, n, k) if streamed else _gemm(m, n, k)).items()}
    rows, kp = batch * m, _ceil4(k)  # b [K, N]: one row at a time, 2 k x 4 columns per step
    return {"rows": rows, "outputs": rows * n, "widen": rows * kp, "cols4": rows * (n // 4) * ((k + 1) // 2),
            "cols1": rows * (n % 4) * k}


def _conv(p: Program, op: Op) -> dict[str, float]:
    e, c, kh, kw = p.tensors[op.inputs[1]].shape
    k = c * kh * kw
    patches = p.tensors[op.outputs[0]].numel // e
    if cost_key(op, p) == "Conv2dRef":  # scalar loops: per output, per patch row, per MAC
        return {"patches": patches, "outputs": patches * e, "rows": patches * e * c * kh, "macs": patches * e * k}
    return {"patches": patches, "outputs": patches * e, "rows": patches * c * kh, "widen": patches * k,
            "chunks": patches * -(-e // 64), "dot4": patches * (e // 4) * k, "dot1": patches * (e % 4) * k}


def _rows(p: Program, op: Op) -> dict[str, float]:
    x = p.tensors[op.inputs[0]]
    last = x.shape[-1] if x.shape else 1
    return {"rows": x.numel // max(last, 1), "elements": x.numel}


def _elements(p: Program, op: Op) -> dict[str, float]:
    return {"elements": p.tensors[op.outputs[0]].numel, "inputs": sum(p.tensors[i].numel for i in op.inputs
                                                                       if not p.tensors[i].is_constant)}


# Per-call features of each cost key; every key also has "calls".
_KIND_FEATURES: dict[str, Callable[[Program, Op], dict[str, float]]] = {
    "Linear": _linear, "Matmul": _matmul, "MatmulT": _matmul, "Conv2d": _conv, "Conv2dRef": _conv,
    "LayerNorm": _rows, "Softmax": _rows, "Mean": _rows,
    "Add": _elements, "Rescale": _elements, "Lut": _elements, "Quantize": _elements, "Dequantize": _elements,
    "Permute": _elements, "Slice": _elements, "Concat": _elements, "Reshape": _elements,
}
# Shared by every kind (one coefficient each): see the module docstring.
SHARED = ("operands", "loop_shift", "loop_entries", "loop_iterations")
FIXED = "run"  # a run's cost outside any op (model_run's prologue and epilogue)


def cost_key(op: Op, program: Program | None = None) -> str:
    """The kernel an op runs: MATMUL with transpose_b and without are two kernels; the Cortex-M7 patch embedding
    takes patch widths that are a multiple of 4 and leaves others to the scalar reference kernel."""
    if op.kind == "Matmul" and op.params.get("transpose_b"):
        return "MatmulT"
    if op.kind == "Conv2d" and program is not None and program.tensors[op.inputs[1]].shape[3] % 4:
        return "Conv2dRef"
    return op.kind


@dataclass
class OpFeatures:
    index: int
    key: str
    calls: int
    values: dict[str, float]  # per inference (summed over calls): the key's features, "calls", and SHARED


def features(program: Program) -> list[OpFeatures]:
    """Features of every op the runtime dispatches (not LOOPs: their work is charged as `SHARED` features), in
    execution order, walking LOOPs as `model.cpp`'s run_range does."""
    ops = program.ops
    rows: dict[int, OpFeatures] = {}
    order: list[int] = []

    def walk(lo: int, hi: int, loops: list[Op], calls: int) -> int | None:
        """Visits ops [lo, hi); returns the index of the last dispatched op (where a following LOOP's cost lands)."""
        last = None
        k = lo
        while k < hi:
            op = ops[k]
            if op.kind == "Loop":
                end = k + 1 + int(op.params["body"])
                count = int(op.params["count"])
                body_last = walk(k + 1, end, loops + [op], calls * count)
                if last is not None:
                    rows[last].values["loop_entries"] += calls
                if body_last is not None:
                    rows[body_last].values["loop_iterations"] += calls * count
                    last = body_last
                k = end
                continue
            key = cost_key(op, program)
            per_call = {"calls": 1.0, **_KIND_FEATURES[key](program, op)}
            acts = sum(1 for i in op.inputs + op.outputs if not program.tensors[i].is_constant)
            shift = acts * sum(len(lp.params.get("tensors", [])) for lp in loops)
            if k not in rows:
                rows[k] = OpFeatures(k, key, 0, {f: 0.0 for f in SHARED})
                order.append(k)
            r = rows[k]
            r.calls += calls
            for f, v in per_call.items():
                r.values[f] = r.values.get(f, 0.0) + calls * float(v)
            r.values["operands"] += calls * (len(op.inputs) + len(op.outputs))
            r.values["loop_shift"] += calls * shift
            last = k
            k += 1
        return last

    walk(0, len(ops), [], 1)
    return [rows[k] for k in order]


def _columns(feats: Iterable[OpFeatures]) -> list[tuple[str, str]]:
    """(key, feature) design-matrix columns: per-key features, then the shared ones (key "*")."""
    cols = set()
    for r in feats:
        cols.update((r.key, f) for f in r.values if f not in SHARED)
    return sorted(cols) + [("*", f) for f in SHARED]


@dataclass
class CostModel:
    """Coefficients {key: {feature: instructions per unit}} ("*" holds the shared ones) and the run's fixed cost."""

    coef: dict[str, dict[str, float]]
    fixed: float = 0.0
    source_hash: str = ""
    meta: dict = field(default_factory=dict)

    def op_instructions(self, program: Program, only: Iterable[int] | None = None) -> list[tuple[int, str, float]]:
        """(op index, cost key, predicted instructions per inference) of every dispatched op (of those in `only`)."""
        out = []
        shared = self.coef.get("*", {})
        only = None if only is None else set(only)
        for r in features(program):
            if only is not None and r.index not in only:
                continue
            if r.key not in self.coef:
                raise KeyError(f"the cost model was not calibrated on op kind {r.key} (rerun {REGENERATE})")
            c = self.coef[r.key]
            v = sum(c.get(f, 0.0) * x for f, x in r.values.items() if f not in SHARED)
            v += sum(shared.get(f, 0.0) * r.values[f] for f in SHARED)
            out.append((r.index, r.key, v))
        return out

    def instructions(self, program: Program) -> float:
        """Predicted instructions of one inference."""
        return self.fixed + sum(v for _, _, v in self.op_instructions(program))

    # ---- fit / files --------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, runs: list[tuple[Program, dict[int, float], float]], source_hash: str = "") -> "CostModel":
        """Least squares over every op of every run: `runs` = (program, {op index: QEMU instructions per inference},
        QEMU instructions of the whole inference). Each op is one equation, weighted by 1 / its run's total so that
        small and large networks count alike (the predictor's error is relative); the fixed cost is the mean of what
        the ops leave unexplained."""
        feats = [(features(p), counts) for p, counts, _ in runs]
        cols = _columns(r for fs, _ in feats for r in fs)
        index = {c: j for j, c in enumerate(cols)}
        a, b = [], []
        for (fs, counts), (_, _, total) in zip(feats, runs):
            for r in fs:
                row = np.zeros(len(cols))
                for f, x in r.values.items():
                    row[index[("*", f) if f in SHARED else (r.key, f)]] = x
                a.append(row / total)
                b.append(counts.get(r.index, 0.0) / total)
        a, b = np.array(a), np.array(b)
        scale = np.maximum(np.abs(a).max(axis=0), 1.0)  # columns span 1 .. 1e7: scale for a well-posed solve
        sol, *_ = np.linalg.lstsq(a / scale, b, rcond=None)
        sol = sol / scale
        coef: dict[str, dict[str, float]] = {}
        for (key, f), v in zip(cols, sol):
            coef.setdefault(key, {})[f] = float(v)
        model = cls(coef, 0.0, source_hash)
        model.fixed = float(np.mean([total - model.instructions(p) for p, _, total in runs]))
        return model

    def to_dict(self) -> dict:
        return {"source_hash": self.source_hash, "fixed": self.fixed, "coef": self.coef, "meta": self.meta}

    def save(self, path: Path | str = CALIBRATION) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path | str = CALIBRATION) -> "CostModel":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no cost calibration at {path}: run {REGENERATE}")
        d = json.loads(path.read_text())
        return cls(d["coef"], float(d["fixed"]), d.get("source_hash", ""), d.get("meta", {}))

    def is_stale(self) -> bool:
        return self.source_hash != runtime_sources_hash()


_DEFAULT: CostModel | None = None


def default_model() -> CostModel:
    """The committed calibration (loaded once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CostModel.load()
    return _DEFAULT


def firmware_overheads() -> dict[str, int]:
    """{"flash_bytes": firmware without a model, "pte_overhead_bytes": .pte minus blob, "blob_bytes_per_tensor",
    "ram_bytes": SRAM the firmware needs besides the model's input, arena and logits}, as measured for the
    calibrated runtime."""
    fw = default_model().meta.get("firmware")
    if not fw:
        raise KeyError("calibration.json has no firmware measurements: run benchmarks/bench_latency.py")
    return fw


def instructions(program: Program, model: CostModel | None = None) -> float:
    return (model or default_model()).instructions(program)


def relative_error(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured if measured else math.inf

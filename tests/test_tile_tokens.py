"""Multi-token tiles (backend/passes/tile_tokens.py): every tiling is bit-exact with the unscheduled reference, its
plan passes the checker at the live-set bound, the tile choice keeps the SRAM budget, and a tiled ViT runs through
ExecuTorch with our C++ backend bit-exact with the reference."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from mcuformer.backend import reference
from mcuformer.backend.cost import CostModel, default_model
from mcuformer.backend.memory import plan_program, report_of
from mcuformer.backend.memory.report import memory_main
from mcuformer.backend.memory.vit import build_vit_ir, plan_vit, planned_vit
from mcuformer.backend.passes import PASSES, run_passes
from mcuformer.backend.passes import tile_tokens as tt
from mcuformer.targets import DEFAULT_BOARD, model_sram_budget
from test_passes_vit import CASES, arch, randomize


def _before_tiling(base):
    """The program as tile_tokens receives it (every pass before it)."""
    p = copy.deepcopy(base)
    for name, fn in PASSES:
        if name == "tile_tokens":
            return p
        p = fn(p)
    raise AssertionError("tile_tokens is not in PASSES")


def _after_tiling(p):
    seen = False
    for name, fn in PASSES:
        if seen:
            p = fn(p)
        seen = seen or name == "tile_tokens"
    return p


def _case(case, int8_input=True):
    a = arch(**CASES[case])
    rng = np.random.default_rng(case)
    base = randomize(build_vit_ir(a, int8_input, int8_input), rng)
    if int8_input:
        x = rng.integers(-128, 128, (1, a.in_chans, a.img_size, a.img_size)).astype(np.int8)
    else:
        x = (rng.standard_normal((1, a.in_chans, a.img_size, a.img_size)) * 60).astype(np.float32)
    ref = copy.deepcopy(base)
    plan_program(ref)
    return base, x, reference.run(ref, [x.copy()], arena=True)[0]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("rows", [1, 2, 3, 6, 7, 100])
@pytest.mark.parametrize("vt", [False, True])
def test_every_tiling_is_bit_exact_and_planned_at_the_bound(case, rows, vt):
    base, x, want = _case(case, int8_input=case % 2 == 0)
    pre = tt.split_kv(_before_tiling(base))
    if vt:  # attention x V reads V^T rows (q.k^T's layout)
        n_av = sum(op.kind == "Matmul" and not op.params["transpose_b"] for op in pre.ops)
        pre = tt.transpose_v(pre)
        assert n_av == CASES[case].get("depth", 2)
        assert not any(op.kind == "Matmul" and not op.params["transpose_b"] for op in pre.ops)
        assert sum(op.kind == "Permute" and op.params["perm"] == [0, 2, 1] for op in pre.ops) == n_av
    ks = tt.stages(pre)
    # the K/V rows, the query rows and the MLP rows of every block
    assert len(ks) == 3 * CASES[case].get("depth", 2)
    assert {pre.ops[k].name.rsplit("_", 1)[-1] for k in ks} == {"tokens", "queries"}
    untiled = _after_tiling(copy.deepcopy(pre))
    rep0 = report_of(untiled, plan_program(untiled))
    p = _after_tiling(tt.tile(copy.deepcopy(pre), {k: rows for k in ks}))
    rep = report_of(p, plan_program(p))  # plan_program checks the plan (no overlap of live buffers)
    got = reference.run(copy.deepcopy(p), [x.copy()], arena=True)[0]
    assert np.array_equal(got, want)
    # at the bound up to the planner's usual 2% (or 16-byte alignment of a few small buffers)
    assert rep.planned_bytes <= max(rep.bound_bytes * max(1.02, rep0.efficiency), rep.bound_bytes + 64)
    report = tt.tile_report(p)
    n = pre.ops[ks[0]].params["count"]
    assert {s["rows"] for s in report} == ({rows, n % rows} - {0} if rows < n else {n})
    # no Reshape copies of K / V rows left (split_kv writes them per head); there was one per head and token
    assert not any(op.kind == "Reshape" and op.name.endswith(("_k", "_v")) for op in p.ops)
    assert any(op.kind == "Reshape" and op.name.endswith(("_k", "_v")) for op in _before_tiling(base).ops)


@pytest.mark.parametrize("case", [0, 2, 3])
def test_choice_fits_the_budget_and_more_sram_is_never_slower(case):
    base, x, want = _case(case)
    smallest = run_passes(copy.deepcopy(base), sram_budget=0)
    plan_program(smallest)
    floor = smallest.arena_bytes + smallest.input_pool_bytes
    last_cost = None
    for budget in (floor, floor + 200, floor + 800, floor + 4000, 10**7):
        p = run_passes(copy.deepcopy(base), sram_budget=budget)
        plan_program(p)
        assert p.arena_bytes + p.input_pool_bytes <= budget
        assert np.array_equal(reference.run(copy.deepcopy(p), [x.copy()], arena=True)[0], want)
        cost = sum(s["predicted_instructions"] for s in tt.tile_report(p))
        assert last_cost is None or cost <= last_cost
        last_cost = cost
    assert max(s["rows"] for s in tt.tile_report(p)) > 1
    assert tt.choose_tiles(tt.split_kv(_before_tiling(base)), 0) == {k: 1 for k in tt.stages(
        tt.split_kv(_before_tiling(base)))}  # nothing fits: one row per iteration


def _pricey_tiles(model: CostModel) -> CostModel:
    """`model` with the multi-row GEMM core a thousand times dearer than it is calibrated."""
    coef = {k: dict(v) for k, v in model.coef.items()}
    streamed = ("col_tiles", "col_widen", "stream6_rows", "stream6_iters", "stream6_blocks", "stream_rows",
                "stream_row_blocks")  # MATMUL(transpose_b)'s tiles of b rows
    for key in ("Linear", "MatmulT"):
        for f in ("tiles", "tile_widen", "tile_channels", "tile_blocks", "tile_row_blocks", "tile6_blocks") + (
                streamed if key == "MatmulT" else ()):
            coef[key][f] = 1000.0 * max(abs(coef[key].get(f, 0.0)), 1.0)
    return CostModel(coef, model.fixed, model.source_hash)


def test_choice_follows_the_shared_cost_model():
    """choose_tiles prices candidates with backend/cost's model (the latency predictor's): the committed calibration
    tiles, one where the GEMM core's tile terms are dear keeps one row per call, and the stage costs it compares sum
    to the model's prediction of the whole tiled program."""
    pre = tt.split_kv(_before_tiling(build_vit_ir(arch(**CASES[0]))))  # the ops the calibration knows
    fast = tt.choose_tiles(pre, 10**7)
    assert max(fast.values()) > 1
    assert tt.choose_tiles(pre, 10**7, _pricey_tiles(default_model())) == {k: 1 for k in fast}
    p = _after_tiling(tt.tile(copy.deepcopy(pre), fast))
    model = default_model()
    per_op = {k: v for k, _, v in model.op_instructions(p)}
    report = tt.tile_report(p)
    assert max(s["rows"] for s in report) > 1
    in_stages = {i for s in report for i in range(*s["ops"])}
    for s in report:
        assert s["predicted_instructions"] == pytest.approx(sum(per_op.get(i, 0.0) for i in range(*s["ops"])))
    total = sum(s["predicted_instructions"] for s in report) + sum(v for k, v in per_op.items() if k not in in_stages)
    assert total + model.fixed == pytest.approx(model.instructions(p), rel=1e-12)


def test_tiled_vit_through_executorch_bit_exact(tmp_path, capsys):
    """A ViT lowered with an SRAM budget runs tiled (rows > 1 in the blob) through ExecuTorch's runtime with our C++
    backend bit-exact with the reference on the blob's program; with sram_budget=0 the arena is the smallest one.
    The default MCUFormerPartitioner() is the default board's (STM32F746) budget, tiled. plan_vit with the same
    budget (None: its default, the same board's) predicts the blob (SRAM, arena, tiles, instructions), and
    `mcuformer memory` shows the tiles."""
    import json

    import torch
    from executorch.exir import to_edge_transform_and_lower

    from mcuformer.backend import MCUFormerPartitioner
    from mcuformer.backend.memory.report import delegate_blobs
    from mcuformer.backend.pipeline import quantize
    from mcuformer.backend.runtime_loader import run_pte
    from mcuformer.backend.serialization.serialize import deserialize
    from mcuformer.nas.space import Arch
    from mcuformer.nas.vit import ViT

    a = Arch(img_size=28, in_chans=1, num_classes=10, patch_size=4, embed_dim=32, depth=2, num_heads=2,
             head_dim=16, mlp_ratio=2.0, rank_ratio=0.6)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 1, 28, 28)).astype(np.float32)
    q = quantize(ViT(a).eval(), (torch.from_numpy(x[:1]),), [torch.from_numpy(x[i:i + 1]) for i in range(6)])
    blobs = {}
    settings = {0: {"sram_budget": 0}, 60_000: {"sram_budget": 60_000}, "stm32f746": {"target": "stm32f746"},
                None: {}}
    for budget, kw in settings.items():
        ep = torch.export.export(q, (torch.from_numpy(x[:1]),), strict=True)
        edge = to_edge_transform_and_lower(ep, partitioner=[MCUFormerPartitioner(**kw)])
        pte = edge.to_executorch().buffer
        (tmp_path / f"{budget}.pte").write_bytes(pte)
        (blob,) = delegate_blobs(pte)
        program = deserialize(blob)
        blobs[budget] = program
        got = run_pte(pte, x)
        for i in range(len(x)):
            want = np.asarray(reference.run(program, [x[i:i + 1]])[0], np.float32)
            assert np.array_equal(np.asarray(got[i], np.float32).view(np.uint32).ravel(), want.view(np.uint32).ravel())
    rows = [s["rows"] for s in tt.tile_report(blobs[60_000])]
    assert max(rows) > 1 and max(s["rows"] for s in tt.tile_report(blobs[0])) == 1
    assert blobs[0].arena_bytes < blobs[60_000].arena_bytes <= 60_000
    # the target's budget: the board's SRAM less the firmware's needs for the program's 10 logits
    assert max(s["rows"] for s in tt.tile_report(blobs["stm32f746"])) > 1
    assert blobs["stm32f746"].arena_bytes <= model_sram_budget("stm32f746", 10)
    # the default is that board's blob
    assert tt.tile_report(blobs[None]) == tt.tile_report(blobs["stm32f746"])
    assert blobs[None].arena_bytes == blobs["stm32f746"].arena_bytes
    for budget, program in blobs.items():  # the float-input export: the frame is read in place
        budget = model_sram_budget(budget, 10) if isinstance(budget, str) else budget
        predicted, rep = planned_vit(a, int8_input=False, overwrite_input=False, sram_budget=budget)
        assert rep == plan_vit(a, int8_input=False, overwrite_input=False, sram_budget=budget)
        assert (rep.arena_bytes, rep.total_sram_bytes) == (program.arena_bytes,
                                                           program.arena_bytes + program.input_pool_bytes)
        predicted = tt.tile_report(predicted)
        deployed = tt.tile_report(program)
        assert [(s["rows"], s["iterations"]) for s in predicted] == [(s["rows"], s["iterations"]) for s in deployed]
        assert [s["predicted_instructions"] for s in predicted] == pytest.approx(
            [s["predicted_instructions"] for s in deployed])
    capsys.readouterr()
    assert memory_main([str(tmp_path / "60000.pte"), "--json", str(tmp_path / "mem.json")]) == 0
    out = capsys.readouterr().out
    tiles = json.loads((tmp_path / "mem.json").read_text())["tiles"]
    assert tiles == tt.tile_report(blobs[60_000]) and max(t["rows"] for t in tiles) > 1
    for t in tiles:
        assert f"{t['rows']:>4d} x {t['iterations']:<4d} {t['predicted_instructions']:>14,.0f}" in out


def test_partitioner_target_travels_as_a_compile_spec():
    """MCUFormerPartitioner(target=board): preprocess turns it into the board's budget (exercised end to end in
    test_tiled_vit_through_executorch_bit_exact); a budget and a target at once, or an unknown board, are errors."""
    from mcuformer.backend import MCUFormerPartitioner
    from mcuformer.backend.preprocess import compile_options

    specs = MCUFormerPartitioner(target="stm32f746").delegation_spec.compile_specs
    assert compile_options(specs) == {"overwrite_input": False, "sram_budget": None, "target": "stm32f746"}
    # the default: neither, resolved to the default board's budget in preprocess (as plan_vit)
    specs = MCUFormerPartitioner().delegation_spec.compile_specs
    assert compile_options(specs) == {"overwrite_input": False, "sram_budget": None, "target": None}
    program = build_vit_ir(arch(**CASES[0]))
    assert DEFAULT_BOARD == "stm32f746"
    assert tt.sram_budget_of(program) == tt.sram_budget_of(program, target="stm32f746") == model_sram_budget(
        "stm32f746", CASES[0].get("classes", 5))
    specs = MCUFormerPartitioner(sram_budget=0).delegation_spec.compile_specs  # one row per iteration
    assert compile_options(specs)["sram_budget"] == 0 == tt.sram_budget_of(program, 0)
    with pytest.raises(ValueError, match="give sram_budget or target, not both"):
        MCUFormerPartitioner(sram_budget=60_000, target="stm32f746")
    with pytest.raises(ValueError, match="sram_budget must be a number of bytes >= 0"):
        MCUFormerPartitioner(sram_budget=-1)
    with pytest.raises(ValueError, match="unknown board 'stm32f999'"):
        MCUFormerPartitioner(target="stm32f999")

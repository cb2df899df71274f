"""benchmarks/nas_cpu.sh end to end in its smoke mode (NAS_SMOKE=1: a few hundred images, tiny schedules): every
stage runs, nas.json has one row per budget with the keys the README reads, and a second run redoes no finished
stage. Needs the data set and the Cortex-M7 toolchain (skipped without them)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks.bench_nas.common import ABLATIONS, LATENCY_MS, REPO, ablated, budgets
from mcuformer.nas.search.common import CONSTRAINTS
from mcuformer.nas.space import FMNIST_SMALL_SPACE
from tests.test_main_job import _have_everything

KEYS = ("budget_bytes", "sram_bytes", "searched_int8_top1", "baseline_int8_top1", "scratch_int8_top1", "binding",
        "latency_budget_ms", "flash_budget_bytes", "kendall_tau", "ablation")


def test_ablated_spaces_are_restrictions() -> None:
    s = FMNIST_SMALL_SPACE
    assert ablated(s, "no-lowrank").rank_ratios == (1.0,)
    assert ablated(s, "one-patch").patch_sizes == (7,)
    assert all(ablated(s, ab).within(s) for ab in ABLATIONS)
    assert not s.within(ablated(s, "no-lowrank"))


def test_budgets_bind_by_latency() -> None:
    from mcuformer.nas.pipeline import best_uniform_baseline
    from mcuformer.nas.predictors.memory import planner_predictor
    from mcuformer.nas.space import Region, macs

    pred = planner_predictor(sram_budget=budgets()[0].sram_bytes)
    largest = FMNIST_SMALL_SPACE.largest(Region((7,), (1.0,)))
    for b in budgets():
        base = best_uniform_baseline(FMNIST_SMALL_SPACE, b, memory_fn=pred, patches=(7,))
        assert b.binding(pred(base)) == "latency" and macs(base) < macs(largest)


@pytest.mark.skipif(_have_everything() is not None, reason=str(_have_everything()))
def test_nas_cpu_smoke(tmp_path) -> None:
    run, results = tmp_path / "run", tmp_path / "results"
    env = {**os.environ, "NAS_SMOKE": "1", "PYTHON": sys.executable}
    cmd = [str(REPO / "benchmarks" / "nas_cpu.sh"), str(run), str(results)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = json.loads((results / "nas.json").read_text())
    assert [r["latency_budget_ms"] for r in rows] == list(LATENCY_MS)
    for r in rows:
        assert all(k in r for k in KEYS), [k for k in KEYS if k not in r]
        assert r["binding"] in CONSTRAINTS and r["baseline_binding"] == "latency"
        for side in ("searched", "scratch", "baseline"):
            assert 0.0 <= r[f"{side}_int8_top1"] <= 1.0
            assert r[f"{side}_latency_ms_predicted"] <= r["latency_budget_ms"]
        assert r["scratch_arch"] == r["searched_arch"]
        assert r["searched_deploy"]["mcu"]["identical_to_host"]
        assert sorted(r["ablation"]) == sorted(ABLATIONS)
        assert set(r["ablation"]["no-lowrank"]["searched_arch"]["rank_ratio"]) == {1.0}
        assert r["ablation"]["one-patch"]["searched_arch"]["patch_size"] == 7
        assert -1.0 <= r["kendall_tau"] <= 1.0
    assert "(c) best uniform ViT" in (results / "nas.md").read_text()
    # resumable: a second run finds every stage done and redoes none
    logs = {f.name: f.stat().st_mtime_ns for f in (run / "logs").iterdir()}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert {f.name: f.stat().st_mtime_ns for f in (run / "logs").iterdir()} == logs

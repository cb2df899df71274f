"""Searches: bounded, deterministic, budget-respecting; clear errors when nothing fits; the 240 px shape-only run.

The backend planner is injected as a function; these tests use a fake planner (an explicit stand-in, not a model of
the real one) so they do not depend on the backend's progress.
"""

import random

import pytest
import torch

from mcuformer.nas import pipeline as P
from mcuformer.nas.elastic import SuperNet
from mcuformer.nas.predictors.memory import MemoryEstimate, paper_formula_predictor
from mcuformer.nas.search import (Budget, EvoConfig, MemoryCache, SpaceEvoConfig, evolutionary_search, evolve_space,
                                  inherited_accuracy, shape_only_search)
from mcuformer.nas.data import normalize
from mcuformer.nas.extract import extract
from mcuformer.nas.space import FMNIST_SPACE, PAPER_SPACE, NoFeasibleArch, macs, param_count
from mcuformer.nas.train import TrainConfig, _synthetic


def fake_planner(arch):
    """Stand-in for the backend's predictors: a peak that grows with tokens, widths and heads; 4 instructions per
    MAC."""
    n, e = arch.num_tokens, arch.embed_dim
    peak = max(2 * n * e + max(n * 3 * arch.attn_dim(i) + arch.num_heads[i] * n * n, n * arch.mlp_hidden(i))
               for i in range(arch.depth))
    return MemoryEstimate(peak, peak, param_count(arch), 4.0 * macs(arch))


def test_evolution_respects_budget_and_is_deterministic():
    mem = MemoryCache(fake_planner, Budget(20 * 1024, 150_000))
    cfg = EvoConfig(population=10, generations=4, num_parents=4, seed=3)
    r1 = evolutionary_search(FMNIST_SPACE, lambda a: float(macs(a)), mem, cfg, progress=False)
    r2 = evolutionary_search(FMNIST_SPACE, lambda a: float(macs(a)), MemoryCache(fake_planner, mem.budget), cfg,
                             progress=False)
    assert [c.arch for c in r1.candidates] == [c.arch for c in r2.candidates]
    assert all(c.fits and c.sram_bytes <= 20 * 1024 and c.flash_bytes <= 150_000 for c in r1.candidates)
    assert len(r1.candidates) <= 10 * 5 and r1.generations == sorted(r1.generations)
    assert r1.best.score == max(c.score for c in r1.candidates)


def test_nothing_fits_names_the_smallest_need_and_stops():
    mem = MemoryCache(fake_planner, Budget(100))
    with pytest.raises(NoFeasibleArch, match=r"smallest sub-net .* needs \d+ B SRAM"):
        evolutionary_search(FMNIST_SPACE, lambda a: 0.0, mem, EvoConfig(population=5, max_tries=200),
                            progress=False)
    with pytest.raises(NoFeasibleArch, match="Raise the budget"):
        P.search(100, memory_fn=fake_planner, data=_synthetic(64, FMNIST_SPACE), progress=False)


def test_space_evolution_moves_towards_what_fits():
    """Accuracy is flat and flash grows with the mean rank ratio (a budget of 0.78 of it): only the fit trend
    decides, and it points to lower ranks. Every move goes down in rank and each window fits more than the last."""
    mem = MemoryCache(lambda a: MemoryEstimate(1000, 1000, int(1e6 * sum(a.rank_ratio) / a.depth)),
                      Budget(1 << 30, 780_000))
    res = evolve_space(FMNIST_SPACE, lambda a: 0.5, mem, SpaceEvoConfig(iterations=3, samples_per_region=16),
                       allowed_patches=(7,), progress=False)
    assert res.history[0]["region"]["rank_ratios"][-1] == 1.0  # starts at the highest ranks
    assert [h["move"]["rank_steps"] for h in res.history] == [-1, -1, -1]
    assert res.region.rank_ratios == FMNIST_SPACE.rank_ratios[2:9]  # three steps down from the top window
    fits = [h["fit"] for h in res.history]
    assert fits == sorted(fits) and fits[-1] > fits[0]


def test_pipeline_search_finetune_export_on_synthetic_data(tmp_path):
    data = _synthetic(256, FMNIST_SPACE)
    preset = P.Preset(
        supernet=TrainConfig(epochs=1, batch_size=64, num_random=1, eval_size=32, device="cpu"),
        finetune=TrainConfig(epochs=1, batch_size=64, eval_size=32, warmup_steps=2, device="cpu"),
        evo=EvoConfig(population=4, generations=2, num_parents=2),
        space_evo=SpaceEvoConfig(iterations=1, samples_per_region=3),
        train_patches=(7,), val_limit=32, rerank_top=2,
        rerank=TrainConfig(epochs=1, batch_size=64, eval_size=32, warmup_steps=2, device="cpu"))
    res = P.search(16 * 1024, 200_000, out_dir=tmp_path, memory_fn=fake_planner, preset=preset, data=data,
                   progress=False)
    assert res.sram_bytes <= 16 * 1024 and res.flash_bytes <= 200_000 and res.arch.patch_size == 7
    assert res.candidates and all(c.score is not None for c in res.candidates)
    # the choice is the better of the two best by inherited accuracy after their short fine-tunes
    assert len(res.reranked) == 2 and (tmp_path / "rerank" / "01" / "finetune.pt").exists()
    chosen = next(r for r in res.reranked if r["arch"] == res.arch.to_dict())
    assert chosen["short_finetune"] == max(r["short_finetune"] for r in res.reranked)
    assert P.SearchResult.load(tmp_path / "search_16384.json").reranked == res.reranked
    vit = P.finetune_searched(res, preset=preset, data=data, out_dir=tmp_path / "ft", progress=False)
    ep = P.export_subnet(vit)
    x = torch.randn(1, 1, 28, 28)
    torch.testing.assert_close(ep.module()(x), vit(x))
    base = P.best_uniform_baseline(FMNIST_SPACE, 16 * 1024, memory_fn=fake_planner, patches=(7,))
    assert fake_planner(base).total_sram_bytes <= 16 * 1024 and len(set(base.num_heads)) == 1


def test_inherited_accuracy_is_the_subnets_and_memoized():
    net = SuperNet(FMNIST_SPACE)
    data = _synthetic(40, FMNIST_SPACE)
    acc = inherited_accuracy(net, data.val, limit=10)
    a = FMNIST_SPACE.smallest()
    calls = []
    forward = net.forward
    net.forward = lambda *args, **kw: calls.append(1) or forward(*args, **kw)
    first = acc(a)
    n = len(calls)
    assert acc(a) == first and len(calls) == n  # the second call computes nothing
    val = data.val.subset(10)
    with torch.no_grad():  # independently: the extracted sub-net on the same images
        pred = extract(net.eval(), a)(normalize(val.images)).argmax(-1)
    assert first == (pred == val.labels).sum().item() / len(val)


def test_interrupted_search_replays_journaled_scores(tmp_path):
    """A search killed mid-way loses no scoring work: a rerun reads the journal instead of evaluating again, a torn
    last line is dropped, and a journal from another supernet is not trusted."""
    net = SuperNet(FMNIST_SPACE)
    data = _synthetic(40, FMNIST_SPACE)
    journal = tmp_path / "search_scores.jsonl"
    a, b = FMNIST_SPACE.smallest(), FMNIST_SPACE.largest()
    first = inherited_accuracy(net, data.val, limit=10, journal=journal)
    scores = {a: first(a), b: first(b)}
    with open(journal, "a") as f:
        f.write('{"arch": {"img_s')  # the kill tore the next line

    calls = []
    forward = net.forward
    net.forward = lambda *args, **kw: calls.append(1) or forward(*args, **kw)
    again = inherited_accuracy(net, data.val, limit=10, journal=journal)
    assert again(a) == scores[a] and again(b) == scores[b] and not calls  # replayed, not recomputed
    assert len(journal.read_text().splitlines()) == 3  # header + 2 entries; the torn line is gone

    with torch.no_grad():
        next(net.parameters()).add_(1.0)  # another supernet: the journal must not be trusted
    fresh = inherited_accuracy(net, data.val, limit=10, journal=journal)
    fresh(a)
    assert calls


def test_shape_only_240_compares_planner_and_formula():
    rep = shape_only_search(PAPER_SPACE, {"planner": fake_planner, "paper": paper_formula_predictor},
                            Budget(320 * 1024), EvoConfig(population=8, generations=2, num_parents=4), samples=50,
                            progress=False)
    d = rep.to_dict()
    assert sum(d["agreement"].values()) == 50
    for name in ("planner", "paper"):
        p = d["per_predictor"][name]
        assert p["top"], name  # 320 KB holds the smallest sub-nets by either predictor
        best = p["top"][0]
        assert best[f"fits_{name}"] and best[f"{name}_sram_bytes"] <= 320 * 1024
        assert [r["macs"] for r in p["top"]] == sorted((r["macs"] for r in p["top"]), reverse=True)


def test_flash_bound_rejects_without_planning_and_never_wrongly():
    calls = []

    def counting(arch):
        calls.append(arch)
        return fake_planner(arch)

    mem = MemoryCache(counting, Budget(64 * 1024, 100_000))
    rng = random.Random(11)
    archs = [FMNIST_SPACE.sample(rng) for _ in range(60)]
    fits = [mem.fits(a) for a in archs]
    assert mem.quick_rejects > 0 and len(calls) < len(set(archs))
    ref = MemoryCache(fake_planner, mem.budget)
    assert fits == [ref.fits(a) for a in archs]  # the bound only skips planning, it changes no decision
    c = mem.candidate(FMNIST_SPACE.largest())
    assert not c.fits and c.sram_bytes == -1 and c.flash_bytes == param_count(FMNIST_SPACE.largest())


def test_presets_carry_their_space():
    from mcuformer.nas.space import FMNIST_SMALL_SPACE

    assert P.MAIN_JOB.space is FMNIST_SMALL_SPACE and P.BENCHMARK.space is FMNIST_SPACE
    big = P.MAIN_JOB.space.largest(P.MAIN_JOB.space.full_region())
    assert big.embed_dim <= 96 and big.depth <= 6  # the main job stays small enough for 2 CPU cores


def test_latency_budget_is_honoured_and_the_binding_constraint_named(tmp_path):
    budget = Budget(1 << 30, None, latency_ms=5.0, clock_hz=216e6)  # 5 ms = 1.08 M instructions = 270 k MACs
    mem = MemoryCache(fake_planner, budget)
    res = evolutionary_search(FMNIST_SPACE, lambda a: float(macs(a)), mem,
                              EvoConfig(population=8, generations=3, num_parents=4), progress=False)
    assert all(c.instructions / 216e6 * 1e3 <= 5.0 for c in res.candidates)
    assert res.rejected and mem.rejections()["latency"] == len({c.arch for c in res.rejected})
    assert mem.rejections()["sram"] == 0
    assert budget.binding(fake_planner(res.best.arch)) == "latency"
    assert Budget(100, 10**9).binding(fake_planner(res.best.arch)) == "sram"
    with pytest.raises(NoFeasibleArch, match=r"/ 0.001 ms .* needs \d+ B SRAM, \d+ B flash and [\d.]+ ms at 216 MHz"):
        P.search(Budget(1 << 30, None, latency_ms=0.001), memory_fn=fake_planner,
                 data=_synthetic(64, FMNIST_SPACE), out_dir=tmp_path, progress=False)
    # the main job's space (P.search's default preset): its smallest sub-net p7 E32 D3 needs 4.60 ms here
    with pytest.raises(NoFeasibleArch, match=r"needs \d+ B SRAM, \d+ B flash and 4.60 ms at 216 MHz"):
        P.search(Budget(1 << 30, None, latency_ms=4.5), memory_fn=fake_planner,
                 data=_synthetic(64, FMNIST_SPACE), out_dir=tmp_path, progress=False)


def test_smallest_subnet_needs_the_least_of_everything():
    """The infeasible-budget error names the smallest sub-net's SRAM, flash and latency as the least any sub-net
    needs: checked with the backend's predictors on random sub-nets of the main job's space."""
    from mcuformer.nas.predictors.memory import planner_predictor
    from mcuformer.nas.space import FMNIST_SMALL_SPACE

    fn = planner_predictor()
    low = fn(FMNIST_SMALL_SPACE.smallest())
    rng = random.Random(9)
    for _ in range(25):
        m = fn(FMNIST_SMALL_SPACE.sample(rng))
        assert m.min_sram_bytes >= low.min_sram_bytes and m.flash_bytes >= low.flash_bytes
        assert m.instructions >= low.instructions


def test_search_predicts_the_blob_lowered_with_its_budget(tmp_path):
    """The search's default predictor is the blob lowered with the search's SRAM budget: the chosen sub-net's
    predicted SRAM (tiled: the budget's tiles), tiles and instructions are those of MCUFormerPartitioner(
    sram_budget=budget.sram_bytes)'s blob, and whether it fits (and how much SRAM it uses) is judged on what it
    needs, its one-row plan (an untrained supernet: the scores do not matter here)."""
    from mcuformer.backend.cost import default_model
    from mcuformer.backend.memory import plan_vit
    from mcuformer.backend.memory.report import delegate_blobs
    from mcuformer.backend.passes.tile_tokens import tile_report
    from mcuformer.backend.pipeline import lower, quantize
    from mcuformer.backend.serialization.serialize import deserialize
    from mcuformer.nas.predictors.memory import planner_predictor
    from mcuformer.nas.space import FMNIST_SMALL_SPACE
    from mcuformer.nas.vit import ViT

    budget = Budget(48 * 1024, 10**9)
    fn = planner_predictor(sram_budget=budget.sram_bytes)
    preset = P.Preset(supernet=TrainConfig(epochs=1, device="cpu"), finetune=TrainConfig(epochs=1, device="cpu"),
                      evo=EvoConfig(population=4, generations=1, num_parents=2), space_evo=None, train_patches=(7,),
                      val_limit=16)
    torch.manual_seed(0)
    res = P.search(budget, out_dir=tmp_path, supernet=SuperNet(FMNIST_SMALL_SPACE), preset=preset,
                   data=_synthetic(64, FMNIST_SMALL_SPACE), progress=False)
    need = plan_vit(res.arch, sram_budget=0).total_sram_bytes
    assert res.min_sram_bytes == need < res.sram_bytes <= budget.sram_bytes  # the budget buys tiles
    assert res.used["sram"] == need / budget.sram_bytes
    assert all(c.min_sram_bytes == fn(c.arch).min_sram_bytes for c in res.candidates)
    x = torch.randn(4, 1, 28, 28)
    q = quantize(ViT(res.arch).eval(), (x[:1],), [x[i:i + 1] for i in range(4)])
    lowered = lower(q, (x[:1],), overwrite_input=True, int8_input=True, sram_budget=budget.sram_bytes)
    (blob,) = delegate_blobs(lowered.to_pte())
    deployed = deserialize(blob)
    assert deployed.input_pool_bytes + deployed.arena_bytes == res.sram_bytes == fn(res.arch).total_sram_bytes
    assert max(t["rows"] for t in tile_report(deployed)) > 1
    assert res.instructions == pytest.approx(default_model().instructions(deployed), rel=1e-9)


def test_search_result_records_budgets_and_binding(tmp_path):
    data = _synthetic(128, FMNIST_SPACE)
    preset = P.Preset(
        supernet=TrainConfig(epochs=1, batch_size=64, num_random=1, eval_size=16, device="cpu"),
        finetune=TrainConfig(epochs=1, batch_size=64, eval_size=16, device="cpu"),
        evo=EvoConfig(population=4, generations=1, num_parents=2), space_evo=None, train_patches=(7,),
        val_limit=16)
    res = P.search(1 << 30, 10**9, out_dir=tmp_path, memory_fn=fake_planner, preset=preset, data=data,
                   latency_ms=100.0, progress=False)
    assert res.latency_ms <= 100.0 and res.binding == "latency" and set(res.used) == {"sram", "flash", "latency"}
    assert res.used["latency"] == max(res.used.values())
    back = P.SearchResult.load(tmp_path / f"search_{1 << 30}.json")
    assert back.budget == res.budget and back.binding == "latency" and back.rejections == res.rejections


def test_supernet_trains_only_patch_sizes_the_budget_admits():
    """A latency budget that no patch-4 or patch-2 sub-net meets leaves those patch sizes out of the supernet's
    training region (the backend's predictors decide); without budgets the preset's region is kept."""
    from mcuformer.nas.predictors.memory import planner_predictor
    from mcuformer.nas.space import Region

    space = P.BENCHMARK.space
    fn = planner_predictor(latency=True)
    ms = {p: Budget(1 << 30).latency_of(fn(space.smallest(Region((p,), space.rank_ratios)))) for p in (7, 4, 2)}
    assert ms[7] < ms[4] < ms[2]

    def region(latency_ms):
        return P.training_region(P.BENCHMARK, mem=MemoryCache(fn, Budget(1 << 30, None, latency_ms=latency_ms)))

    assert region((ms[7] + ms[4]) / 2).patch_sizes == (7,)
    assert region((ms[4] + ms[2]) / 2).patch_sizes == (7, 4)
    assert region(2 * ms[2]).patch_sizes == P.training_region(P.BENCHMARK).patch_sizes == (7, 4, 2)

"""Kendall's tau of the inherited-accuracy ranking (nas/ranking.py)."""

import json
import random

import pytest
from scipy.stats import kendalltau

from mcuformer.nas.elastic import SuperNet
from mcuformer.nas.ranking import kendall_tau, ranking_study, spread_subnets
from mcuformer.nas.space import FMNIST_SMALL_SPACE, macs
from mcuformer.nas.train import TrainConfig, _synthetic


def test_kendall_tau_by_hand_and_against_scipy():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0 and kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]) == pytest.approx(0.4)  # 7 concordant, 3 discordant pairs
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / 6 ** 0.5)  # tau-b with a tie in x
    rng = random.Random(0)
    for _ in range(20):
        x = [rng.randint(0, 5) for _ in range(12)]
        y = [rng.randint(0, 5) for _ in range(12)]
        assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic)
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1.0], [1.0, 2.0])


def test_spread_subnets_span_the_space_by_macs():
    archs = spread_subnets(FMNIST_SMALL_SPACE, 6)
    assert len(set(archs)) == 6 and [macs(a) for a in archs] == sorted(macs(a) for a in archs)
    assert macs(archs[-1]) > 4 * macs(archs[0])
    with pytest.raises(ValueError, match="need 6"):
        spread_subnets(FMNIST_SMALL_SPACE, 6, fits=lambda a: False)


def test_ranking_study_on_synthetic_data(tmp_path):
    data = _synthetic(96, FMNIST_SMALL_SPACE)
    net = SuperNet(FMNIST_SMALL_SPACE)
    archs = spread_subnets(FMNIST_SMALL_SPACE, 3, seed=1)
    cfg = TrainConfig(epochs=1, batch_size=32, eval_size=None, warmup_steps=1, device="cpu")
    rows, taus = ranking_study(net, archs, data, cfg, tmp_path, val_limit=None, progress=False, short=cfg)
    assert [r["short"] for r in rows] == [a.short() for a in archs]
    assert all(0.0 <= r[k] <= 1.0 for r in rows for k in ("inherited", "scratch", "short_finetune"))
    for k in ("inherited", "short_finetune"):
        assert taus[k] == kendall_tau([r[k] for r in rows], [r["scratch"] for r in rows])
    saved = json.loads((tmp_path / "ranking.json").read_text())
    assert saved["kendall_tau"] == taus and len(saved["rows"]) == 3
    for i in range(3):  # resumable per sub-net, both trainings
        assert (tmp_path / f"{i:02d}" / "finetune.pt").exists() and (tmp_path / f"short_{i:02d}" / "finetune.pt").exists()


def test_rerank_chooses_the_best_after_the_short_finetune(tmp_path, monkeypatch):
    from mcuformer.nas.search import rerank as rr
    from mcuformer.nas.search.common import Candidate

    archs = spread_subnets(FMNIST_SMALL_SPACE, 4, seed=2)
    # inherited order 0 > 1 > 2 > 3 (and a duplicate, a non-fitting one); after the short fine-tune 2 is best
    cands = [Candidate(a, 1000 + i, 0, True, 0.9 - 0.1 * i) for i, a in enumerate(archs)]
    cands += [Candidate(archs[0], 1000, 0, True, 0.5), Candidate(archs[3], 9, 0, False, 0.99)]
    after = {archs[0]: 0.70, archs[1]: 0.72, archs[2]: 0.80, archs[3]: 0.99}
    seen = []
    monkeypatch.setattr(rr, "short_finetune_accuracy", lambda sn, a, *args, **kw: seen.append(a) or after[a])
    best, rows = rr.rerank(None, cands, None, None, tmp_path, top=3, progress=False)
    assert seen == archs[:3]  # the 3 best fitting by inherited accuracy, each once; archs[3] (0.6) is left out
    assert best.arch == archs[2] and [r["short_finetune"] for r in rows] == [0.70, 0.72, 0.80]

import os
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # shared test helpers (models.py, fmnist_model.py)

from mcuformer.noise import quiet_third_party  # noqa: E402

quiet_third_party()  # before any test module imports torchao: its CUDA-extension lines come at import


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """scripts/test.sh (and so CI) installs every tool and data set first; there a skipped test means a broken set-up
    and fails (MCUFORMER_NO_SKIP=1). Run pytest directly to allow skips on a partial machine."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("MCUFORMER_NO_SKIP") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped where nothing may be skipped (MCUFORMER_NO_SKIP=1): {reason}"


class LoweredMlp(NamedTuple):
    pte: Path  # an MLP (8 -> 16 -> gelu -> 4) lowered by `mcuformer lower` from its .pt2
    npy: Path  # one valid input for it: float32 [1, 8]
    pt2: Path
    stdout: str  # what `mcuformer lower` printed


@pytest.fixture(scope="session")
def mlp_pte(tmp_path_factory) -> LoweredMlp:
    """A real MCUFormer .pte, lowered once per session through the command line (a few seconds)."""
    import numpy as np
    import torch

    from mcuformer import cli

    class Mlp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(8, 16), torch.nn.Linear(16, 4)

        def forward(self, x):
            return self.fc2(torch.nn.functional.gelu(self.fc1(x)))

    d = tmp_path_factory.mktemp("mlp")
    torch.manual_seed(0)
    torch.export.save(torch.export.export(Mlp().eval(), (torch.randn(1, 8),), strict=True), str(d / "m.pt2"))
    out = d / "lower.out"
    with open(out, "w") as f:
        stdout, sys.stdout = sys.stdout, f
        try:
            rc = cli.main(["lower", str(d / "m.pt2"), "-o", str(d / "m.pte"), "--calibration", "4"])
        finally:
            sys.stdout = stdout
    assert rc == 0, out.read_text()
    np.save(d / "x.npy", np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32))
    return LoweredMlp(d / "m.pte", d / "x.npy", d / "m.pt2", out.read_text())


@pytest.fixture
def synthetic_summary(tmp_path):
    """A main job's summary as `mcuformer run` writes it, with a search result beside it (tmp_path/search.json) and
    no .pte (tmp_path/missing.pte): what the report and the closing table read, without running the job."""
    import json

    from mcuformer.nas.space import FMNIST_SPACE
    from mcuformer.summary import MemoryInfo, SearchInfo, Summary

    arch = FMNIST_SPACE.smallest()
    cands = [{"arch": arch.to_dict(), "sram_bytes": 1000 + 100 * i, "flash_bytes": 5000, "fits": i < 8,
              "score": 0.5 + 0.03 * (i % 5), "macs": 1, "source": "init", "short": arch.short(),
              "instructions": 2e6 + 1e5 * i} for i in range(10)]
    search = tmp_path / "search.json"
    search.write_text(json.dumps({"sram_bytes": 1200, "val_acc": 0.62, "short": arch.short(), "candidates": cands,
                                  "instructions": 2.2e6, "region": {"patch_sizes": [7], "rank_ratios": [0.5, 1.0]},
                                  "seconds": 3}))
    per_op = [{"index": i, "kind": k, "instructions": 1000.0 * (i + 1), "calls": 1}
              for i, k in enumerate([4, 3, 10, 3])]  # OpParams: Conv2d, Linear, Softmax
    return Summary(
        board="stm32f746", budget_bytes=65536, flash_budget_bytes=1 << 20, latency_budget_ms=11.0, clock_hz=216e6,
        preset="main", arch=arch.to_dict(), arch_short=arch.short(), macs=123456,
        search=SearchInfo(val_acc=0.62, planned_sram_bytes=1200, planned_flash_bytes=5000, candidates=10, seconds=3.0,
                          path=str(search), latency_ms=2.2e6 / 216e3, binding="latency",
                          used={"sram": 1000 / 65536, "flash": 5000 / (1 << 20), "latency": 2.2e6 / 216e3 / 11.0},
                          min_sram_bytes=1000),
        test_images=100, fp32_top1=0.8, fp32_top1_full_test=0.8, int8_top1=0.79,
        memory=MemoryInfo(total_sram_bytes=4288, arena_bytes=1152, input_bytes=3136, bound_bytes=4000,
                          weights_bytes=28028, plan_vit_int8_input_sram_bytes=1328, within_budget=True),
        mcu={"per_op_instructions": per_op, "per_function_instructions": {"f": 10.0}, "ram_bytes": 20000,
             "ram_budget_bytes": 327680, "flash_bytes": 90000, "qspi_bytes": 0, "pte_region": "FLASH"},
        instructions_per_inference=12000, est_ms=12000 / 216e3,
        lower={"pte_bytes": 1, "undelegated": [], "rejections": {}, "delegates": 1},
        paths={"pte": str(tmp_path / "missing.pte"), "search": str(search)}, seconds={"search": 1.0},
        notes=["a note"])

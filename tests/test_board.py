"""`--board` / `--sram` / `--flash` / `--latency-ms`: the options become the search's Budget, the firmware's linker
budgets and the summary's; the report plots the candidates against SRAM and latency with the budgets drawn."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mcuformer import cli, mcu, targets
from mcuformer.nas.search.common import Budget, MemoryCache, no_feasible
from mcuformer.stages import budget_from_options

REPO = Path(__file__).resolve().parents[1]


def _budget(argv):
    a = cli.build_parser().parse_args(argv)
    return budget_from_options(a.board, a.budget, a.flash_budget, a.latency_ms)


def _err(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mcuformer: error:")]
    assert len(lines) == 1, lines
    return lines[0]


# ---- options -> Budget -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["run", "search"])
@pytest.mark.parametrize("name", sorted(targets.BOARDS))
def test_board_sets_all_three_budgets(cmd, name):
    b = targets.board(name)
    assert _budget([cmd, "--board", name]) == Budget(targets.model_sram_budget(b), b.flash_bytes, 50.0, b.clock_hz)


def test_boards_table_is_the_issues():
    assert {n: (b.sram_bytes // 1024, b.flash_bytes // 1024 ** 2, b.clock_hz / 1e6) for n, b in targets.BOARDS.items()} \
        == {"stm32f427": (256, 1, 180), "stm32f746": (320, 1, 216), "stm32h743": (512, 2, 480)}
    # the model's SRAM budget is the board's less what the firmware itself needs, measured
    for b in targets.BOARDS.values():
        assert 0 < b.sram_bytes - targets.model_sram_budget(b) < 32 * 1024


def test_explicit_values_override_the_board():
    want = Budget(100 * 1024, 512 * 1024, 50.0, 180e6)
    assert _budget(["search", "--board", "stm32f427", "--sram", "100KB", "--flash", "512KB",
                    "--latency-ms", "50"]) == want
    # the older spellings are aliases
    assert _budget(["search", "--board", "stm32f427", "--budget", "100KB", "--flash-budget", "512KB",
                    "--latency-ms", "50"]) == want
    assert _budget(["run", "--board", "stm32h743", "--sram", "300KB"]).flash_bytes == 2 << 20


def test_default_is_the_stm32f746_with_the_main_jobs_64kb_and_50ms():
    assert _budget(["run"]) == Budget(64 * 1024, 1 << 20, 50.0, 216e6)
    assert _budget(["run", "--latency-ms", "none"]) == Budget(64 * 1024, 1 << 20, None, 216e6)
    assert _budget(["search", "--latency-ms", "20"]) == Budget(64 * 1024, 1 << 20, 20.0, 216e6)


def test_unknown_board_is_one_line_before_any_work(tmp_path, capsys):
    for cmd in ("search", "run"):
        assert cli.main([cmd, "--board", "stm32f999", "--out", str(tmp_path / "out")]) == cli.EXIT_USER
        assert _err(capsys) == ("mcuformer: error: unknown board 'stm32f999'; known: stm32f427, stm32f746, "
                                "stm32h743")
    assert not (tmp_path / "out").exists()


def test_non_positive_latency_is_refused(capsys):
    assert cli.main(["search", "--latency-ms", "0"]) == cli.EXIT_USER
    assert "--latency-ms must be a positive" in _err(capsys)


class _Searched(Exception):
    pass


def test_the_search_gets_the_boards_budget(tmp_path, monkeypatch):
    """`mcuformer search --board` hands nas.pipeline.search exactly the board's Budget (no data, no training)."""
    from types import SimpleNamespace

    from mcuformer.nas import pipeline as P

    got = {}

    def spy(budget, *args, **kw):
        got["budget"] = budget
        raise _Searched

    monkeypatch.setattr(P, "search", spy)
    monkeypatch.setattr(cli, "load_data", lambda *a: SimpleNamespace(image_shape=(1, 28, 28), classes=list(range(10))))
    with pytest.raises(_Searched):
        cli.main(["search", "--board", "stm32h743", "--latency-ms", "500", "--out", str(tmp_path)])
    assert got["budget"] == Budget.for_board("stm32h743", latency_ms=500.0)


# ---- a budget nothing meets names the constraint -----------------------------------------------------------------


def test_latency_budget_nothing_meets_names_latency(tmp_path, capsys):
    assert cli.main(["search", "--latency-ms", "0.001", "--out", str(tmp_path)]) == cli.EXIT_USER
    line = _err(capsys)
    assert "meets the latency budget (0.001 ms)" in line and " ms at 216 MHz" in line and "--latency-ms " in line
    assert "--sram" not in line and "--flash" not in line
    assert not (tmp_path / "nas").exists()


def test_search_error_names_the_broken_constraints():
    from mcuformer.nas.predictors.memory import MemoryEstimate
    from mcuformer.nas.space import FMNIST_SMALL_SPACE

    def need(arch):
        return MemoryEstimate(10_000, 9_000, 50_000, 2e6)

    msg = str(no_feasible(FMNIST_SMALL_SPACE, MemoryCache(need, Budget(20_000, 40_000, 5.0)), None, 3))
    assert "(the flash and latency budgets cannot be met)" in msg and "after 3 tries" in msg
    msg = str(no_feasible(FMNIST_SMALL_SPACE, MemoryCache(need, Budget(5_000)), None, 1))
    assert "(the sram budget cannot be met)" in msg


# ---- summary and report ------------------------------------------------------------------------------------------


def test_summary_names_board_budgets_and_binding(synthetic_summary, tmp_path):
    from mcuformer.format import summary_table
    from mcuformer.summary import Summary

    table = summary_table(synthetic_summary)
    assert "stm32f746 (216 MHz)" in table
    assert "SRAM 65,536 B (64.0 KB), flash 1,048,576 B (1024.0 KB), latency 11 ms" in table
    row = next(ln for ln in table.splitlines() if ln.startswith("binding constraint"))
    assert row.split()[2] == "latency" and "latency 92.6%" in row
    synthetic_summary.save(tmp_path / "summary.json")
    back = Summary.load(tmp_path / "summary.json")
    assert (back.board, back.latency_budget_ms, back.search.binding) == ("stm32f746", 11.0, "latency")


def test_report_plots_accuracy_against_latency_and_sram(synthetic_summary, tmp_path):
    from mcuformer.report import write_report

    doc = write_report(synthetic_summary, tmp_path / "report").read_text()
    for png in ("pareto.png", "latency.png"):
        assert (tmp_path / "report" / png).stat().st_size > 1000
        assert f'src="{png}"' in doc
    assert "binding constraint (least slack) is <b>latency</b>" in doc


def test_candidate_plots_from_a_synthetic_list(tmp_path):
    from mcuformer.report import plot_candidates

    cands = [{"sram_bytes": 2048 * (i + 1), "instructions": 1e6 * (i + 1), "score": 0.1 * i, "fits": i < 3,
              "short": f"c{i}"} for i in range(5)]
    cands.append({"sram_bytes": -1, "instructions": None, "score": 0.9, "fits": False, "short": "unplanned"})
    chosen = dict(cands[2])
    assert plot_candidates(cands, chosen, "sram", 8 * 1024, tmp_path / "s.png") == 5
    assert plot_candidates(cands, chosen, "latency", 15.0, tmp_path / "l.png", clock_hz=216e6) == 5
    assert plot_candidates(cands, None, "latency", None, tmp_path / "n.png") == 5  # no latency budget: no line
    for f in ("s.png", "l.png", "n.png"):
        assert (tmp_path / f).stat().st_size > 1000


# ---- the firmware's linker budgets -------------------------------------------------------------------------------


def test_linker_regions_follow_the_target():
    r = mcu.regions("qemu-mps2-an500", "stm32h743")
    assert r["FLASH"] == (0, 2 << 20) and r["RAM"] == (0x20000000, 512 << 10)
    assert r["SDRAM"] == (2 << 20, 2 << 20)  # QEMU's 4 MB at 0x0 beyond the flash budget
    assert mcu.regions("qemu-mps2-an500")["RAM"] == (0x20000000, 320 << 10)
    with pytest.raises(ValueError, match="cannot carry the budgets of 'stm32h743'; it takes: stm32f746"):
        mcu.regions("stm32f746", "stm32h743")


@pytest.mark.filterwarnings("ignore::mcuformer.mcu.StubRuntimeWarning")
def test_linker_enforces_the_targets_sram_and_qemu_runs_it():
    """An arena the STM32F746's 320 KB holds overflows the STM32F427's 256 KB by the exact difference; a
    2 MB-flash STM32H743 firmware runs in QEMU (the SDRAM stand-in moved past its flash)."""
    import numpy as np

    sys.path.insert(0, str(REPO / "examples" / "stm32f746" / "tests"))
    from fixtures import fake_pte, fake_reference

    pte = fake_pte()
    arena = 300_000
    fw = mcu.build_firmware(pte, runtime="stub", arena_bytes=arena)  # the STM32F746
    assert fw.target == "stm32f746" and fw.usage["RAM"] <= 320 << 10
    with pytest.raises(mcu.McuBudgetError) as e:
        mcu.build_firmware(pte, runtime="stub", arena_bytes=arena, target="stm32f427")
    assert e.value.region == "RAM" and e.value.overflow_bytes == fw.usage["RAM"] - (256 << 10)
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    out, s = mcu.run_mcu(pte, x, runtime="stub", profile=False, target="stm32h743")
    assert np.array_equal(out, fake_reference(x, 4))
    assert (s["target"], s["ram_budget_bytes"], s["flash_budget_bytes"]) == ("stm32h743", 512 << 10, 2 << 20)

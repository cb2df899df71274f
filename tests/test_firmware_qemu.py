"""The Cortex-M7 firmware built and run in QEMU (mps2-an500 with the STM32F746's budgets), through mcuformer.mcu.

Uses the TEST-ONLY fake .pte + stub runtime (examples/stm32f746/tests, asked for with runtime="stub", which warns)
so each case is small and fast; the real backend end to end is in test_firmware_real.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "stm32f746" / "tests"))

from fixtures import fake_pte, fake_reference  # noqa: E402

from mcuformer import mcu  # noqa: E402
from mcuformer.mcu.parse import json_line  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::mcuformer.mcu.StubRuntimeWarning")

RAM_BUDGET = 320 * 1024


def _x(n, numel=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, numel)).astype(np.float32)


@pytest.mark.parametrize("inline,region", [(False, "auto"), (True, "auto"), (False, "QSPI")],
                         ids=["segment-flash", "inline-flash", "segment-qspi"])
def test_batch_matches_reference(inline, region):
    pte = fake_pte(inline=inline, pad_bytes=3000)
    x = _x(50)
    out, s = mcu.run_mcu(pte, x, runtime="stub", pte_region=region)
    assert np.array_equal(out, fake_reference(x, 4))
    assert s["inferences"] == 50
    assert s["canaries_ok"] is True and s["stack_ok"] is True
    assert 0 < s["stack_peak_bytes"] < s["stack_bytes"]
    assert s["arena_bytes"] == 4096
    assert s["ram_bytes"] <= RAM_BUDGET
    assert s["ram_bytes"] >= sum(s["sections"][k] for k in (".stack", ".data", ".bss", ".arena"))
    if region == "QSPI":
        assert s["pte_region"] == "QSPI" and s["qspi_bytes"] >= 3000 and s["flash_bytes"] < 64 * 1024
    else:
        assert s["pte_region"] == "FLASH" and s["qspi_bytes"] == 0
    assert s["delegate_in_segment"] is (not inline)


def _corrupt(data: bytes, how: str) -> bytes:
    if how == "identifier":
        return data[:4] + b"XX12" + data[8:]
    if how == "backend-id":
        return data.replace(b"MCUFormerBackend", b"NotOurBackend123")
    if how == "root-offset":
        return (len(data) + 64).to_bytes(4, "little") + data[4:]
    if how == "segment-offset":
        # eh00 says segments start past the end of the file
        i = data.index(b"eh00")
        return data[: i + 16] + (len(data) + 4096).to_bytes(8, "little") + data[i + 24:]
    raise ValueError(how)


@pytest.mark.parametrize("how,code", [("identifier", 12), ("backend-id", 17), ("root-offset", 14),
                                      ("segment-offset", 13)])
def test_corrupted_pte_returns_error_code_not_fault(tmp_path, how, code):
    bad = tmp_path / f"{how}.pte"
    bad.write_bytes(_corrupt(fake_pte().read_bytes(), how))
    with pytest.raises(mcu.McuError) as e:
        mcu.run_mcu(bad, _x(1), runtime="stub", profile=False)
    assert e.value.code == code, e.value.log
    assert e.value.code != 90  # 90 = CPU fault
    assert "MCU_SUMMARY" in e.value.log


def test_over_budget_arena_fails_at_link_time_with_byte_count():
    pte = fake_pte()
    fw = mcu.build_firmware(pte, runtime="stub", arena_bytes=4096)
    other = fw.usage["RAM"] - fw.sections[".arena"]["size"]  # stack, data, bss, padding: the arena is last
    arena = 400_000  # a multiple of 16: the arena section is arena + 2 * 16 guard bytes
    with pytest.raises(mcu.McuBudgetError) as e:
        mcu.build_firmware(pte, runtime="stub", arena_bytes=arena)
    assert e.value.region == "RAM"
    assert e.value.overflow_bytes == other + arena + 32 - RAM_BUDGET
    assert f"overflowed by {e.value.overflow_bytes} bytes" in str(e.value)


def test_arena_smaller_than_plan_is_refused_at_run_time():
    with pytest.raises(mcu.McuError) as e:
        mcu.run_mcu(fake_pte(arena_bytes=4096), _x(1), runtime="stub", arena_bytes=1024, profile=False)
    assert e.value.code == 60


def test_arena_overrun_trips_canary():
    with pytest.raises(mcu.McuError) as e:
        mcu.run_mcu(fake_pte(overrun_bytes=4), _x(2), runtime="stub", profile=False)
    assert e.value.code == 71, e.value.log
    assert '"canaries_ok":false' in e.value.log


def test_stack_overuse_is_detected():
    # 8 KB stack; the model touches 8000 bytes on top of the firmware's own frames: it reaches the guard words.
    with pytest.raises(mcu.McuError) as e:
        mcu.run_mcu(fake_pte(stack_bytes=8000), _x(1), runtime="stub", profile=False)
    assert e.value.code == 72, e.value.log  # the watermark reached the guard (not 90, a CPU fault)


def test_malformed_summary_line_is_an_error_naming_it():
    """The firmware's own output (a run the canary stops, so it ends with a summary and an error line), cut short."""
    with pytest.raises(mcu.McuError) as e:
        mcu.run_mcu(fake_pte(overrun_bytes=4), _x(1), runtime="stub", profile=False)
    log = e.value.log
    line = next(ln for ln in log.splitlines() if ln.startswith("MCU_SUMMARY "))
    assert json_line(log, "MCU_SUMMARY")["canaries_ok"] is False
    cut = line[: len(line) // 2]
    with pytest.raises(mcu.McuError, match="malformed MCU_SUMMARY line") as bad:
        json_line(log.replace(line, cut), "MCU_SUMMARY")
    assert repr(cut) in str(bad.value)
    with pytest.raises(mcu.McuError, match="not a JSON object") as bad:
        json_line(log.replace(line, "MCU_SUMMARY [1, 2]"), "MCU_SUMMARY", code=71)
    assert bad.value.code == 71


def test_plugin_counts_are_exact_and_repeatable():
    pte = fake_pte(pad_bytes=500)
    x = _x(3)
    _, a = mcu.run_mcu(pte, x, runtime="stub")
    _, b = mcu.run_mcu(pte, x, runtime="stub")
    keys = ("instructions", "instructions_total_run", "per_op_instructions", "per_function_instructions")
    assert all(a[k] == b[k] for k in keys)
    ops = a["per_op_instructions"]
    assert [(o["index"], o["kind"], o["calls"]) for o in ops] == [(0, 100, 3), (1, 101, 3), (2, 102, 3)]
    # op 1 sums 500 pad bytes: a loop of a few instructions per byte
    assert 500 * 2 <= ops[1]["instructions"] <= 500 * 10
    assert sum(o["instructions"] for o in ops) <= a["instructions"]


def test_stm32f746_board_links_with_real_memory_map():
    fw = mcu.build_firmware(fake_pte(), board="stm32f746", runtime="stub")
    sec = fw.sections
    assert sec[".vectors"]["vma"] == 0x08000000
    assert sec[".stack"]["vma"] == 0x20000000
    assert sec[".frame"]["vma"] == 0xC0000000
    assert fw.usage["RAM"] <= RAM_BUDGET and fw.usage["FLASH"] <= 1 << 20


def test_cli_writes_outputs_and_summary(tmp_path):
    pte = fake_pte()
    x = _x(4)
    np.save(tmp_path / "in.npy", x)
    rc = mcu.main([str(pte), "--input", str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.npy"),
                   "--json", str(tmp_path / "s.json"), "--runtime", "stub"])
    assert rc == 0
    assert np.array_equal(np.load(tmp_path / "out.npy"), fake_reference(x, 4))
    s = json.loads((tmp_path / "s.json").read_text())
    assert {"ram_bytes", "flash_bytes", "instructions", "per_op_instructions", "stack_peak_bytes"} <= s.keys()

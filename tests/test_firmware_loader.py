"""The firmware's .pte loader (examples/stm32f746/app/pte_loader.cpp) on the host: same source as on the device."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "stm32f746" / "tests"))

from fixtures import fake_pte  # noqa: E402

from mcuformer import mcu  # noqa: E402


@pytest.mark.parametrize("inline", [False, True], ids=["segment", "inline"])
def test_pte_info_finds_delegate(inline):
    pte = fake_pte(inline=inline, pad_bytes=1000, arena_bytes=2048, in_numel=6, out_numel=3)
    info = mcu.pte_info(pte, runtime="stub")
    assert info["error"] == 0, info
    assert info["in_segment"] is (not inline)
    assert info["delegate_bytes"] == 32 + 1000
    assert info["delegate_offset"] % 16 == 0
    if not inline:
        assert info["delegate_offset"] % 128 == 0  # segments are 128-byte aligned in the file
    assert info["arena_bytes"] == 2048 and info["inputs"] == [6] and info["outputs"] == [3]
    assert info["input_dtypes"] == [2] and info["output_dtypes"] == [2]


@pytest.mark.parametrize("inline", [False, True], ids=["segment", "inline"])
def test_loader_survives_every_truncation_and_byte_corruption(inline):
    """ASan/UBSan build: every truncation and single-byte corruption gives an error code or a delegate inside the
    buffer, never a read outside it."""
    pte = fake_pte(inline=inline, pad_bytes=200)
    tools = mcu.host_tools("stub")
    r = subprocess.run([str(tools / "pte_loader_mutations"), str(pte)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"bad":0' in r.stdout


def test_pte_info_rejects_garbage_with_codes(tmp_path):
    good = fake_pte().read_bytes()
    cases = {
        "ident": (good[:4] + b"XX12" + good[8:], 12),                      # kBadIdentifier
        "short": (good[:6], 11),                                           # kTooSmall
        "backend": (good.replace(b"MCUFormerBackend", b"MCUFormerBackenX"), 17),  # kWrongBackend
        "truncated": (good[: len(good) - 200], 13),                       # eh00 sizes beyond the buffer
    }
    for name, (data, code) in cases.items():
        p = tmp_path / f"{name}.pte"
        p.write_bytes(data)
        info = mcu.pte_info(p, runtime="stub")
        assert info["exit_code"] == code, (name, info)

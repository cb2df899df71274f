"""The firmware's .pte loader (examples/stm32f746/app/pte_loader.cpp) on the host: same source as on the device."""
from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "stm32f746" / "tests"))

from fixtures import fake_pte  # noqa: E402

from mcuformer import mcu  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::mcuformer.mcu.StubRuntimeWarning")


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


def test_stub_runtime_only_when_asked():
    """The default build links runtime/ (which rejects the fake blob as not an MCUFormer blob); only runtime="stub"
    links the stub that reads it, and that says so."""
    pte = fake_pte()
    with warnings.catch_warnings():
        warnings.simplefilter("error", mcu.StubRuntimeWarning)
        real = mcu.pte_info(pte)
    assert real["error"] == 0 and real["model_status"] != 0, real
    assert mcu.describe_exit_code(real["exit_code"]) == "model_load: invalid blob"
    with pytest.warns(mcu.StubRuntimeWarning, match="TEST-ONLY stub runtime"):
        stub = mcu.pte_info(pte, runtime="stub")
    assert stub["exit_code"] == 0 and stub["model_status"] == 0


def _configure(src: Path, build: Path, *args: str) -> tuple[int, str]:
    """cmake's exit status and its stderr with the line wrapping of its messages undone."""
    r = subprocess.run(["cmake", "-S", str(src), "-B", str(build), *args], capture_output=True, text=True,
                       timeout=300)
    return r.returncode, " ".join(r.stderr.split())


def test_missing_real_runtime_is_an_error_naming_it(tmp_path):
    # the firmware folder alone, without runtime/ beside it
    src = tmp_path / "repo" / "examples" / "stm32f746"
    shutil.copytree(REPO / "examples" / "stm32f746", src)
    rc, err = _configure(src, tmp_path / "b1")
    assert rc != 0
    assert f"the MCUFormer runtime is missing: {tmp_path / 'repo' / 'runtime' / 'CMakeLists.txt'} does not exist" in err
    # runtime/ without the target the firmware links
    rc, err = _configure(REPO / "examples" / "stm32f746", tmp_path / "b2", "-DMCU_RUNTIME_TARGET=no_such_target")
    assert rc != 0
    assert "runtime/CMakeLists.txt defines no target 'no_such_target'" in err
    # the stub builds only when asked for, with a CMake warning
    rc, err = _configure(REPO / "examples" / "stm32f746", tmp_path / "b3", "-DMCU_STUB_RUNTIME=ON")
    assert rc == 0, err
    assert "CMake Warning" in err and "links the TEST-ONLY stub runtime" in err

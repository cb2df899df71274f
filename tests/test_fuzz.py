"""libFuzzer (clang, ASan + UBSan) on everything that parses untrusted bytes, seeded from real lowered models:

- fuzz_blob: the delegate blob loader (header, CRC, flatbuffers verifier, semantic checks) and one model_run of
  whatever loads, in a guarded arena, with I/O sized by the model's own accessors;
- fuzz_pte: the firmware's .pte loader (examples/stm32f746/app/pte_loader.cpp, host build) then model_load /
  model_run on the delegate it finds, exactly as the firmware does.

A short run per target is part of the suite (zero crashes, coverage beyond the seeds); benchmarks/fuzz.py runs longer.
Targets, seeds and driver: tests/fuzz/.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import driver  # noqa: E402

SECONDS = 15  # per target


@pytest.fixture(scope="module")
def fuzz_setup():
    try:
        binaries = driver.build()
    except driver.FuzzUnavailable as e:
        pytest.skip(str(e))
    return binaries, driver.seed_dirs()


@pytest.mark.parametrize("target", ["blob", "pte"])
def test_seeds_load_and_run(fuzz_setup, target):
    """Every seed gets all the way through model_run: the fuzzer starts from inputs that reach the kernels."""
    binaries, seeds = fuzz_setup
    files = sorted(seeds[target].iterdir())
    assert len(files) >= 2
    p = driver.replay(target, files, binaries[target])
    assert p.returncode == 0, p.stdout[-4000:]
    assert p.stdout.count("mcufuzz: ran") == len(files), p.stdout[-4000:]


@pytest.mark.parametrize("target", ["blob", "pte"])
def test_short_fuzz_run_is_clean_and_grows_coverage(fuzz_setup, target, tmp_path):
    binaries, seeds = fuzz_setup
    r = driver.run_fuzzer(target, SECONDS, tmp_path / "corpus", seeds[target], tmp_path / "artifacts",
                          binary=binaries[target])
    assert r.crashes == 0 and r.returncode == 0, r.log_tail
    assert r.execs > 1000, r.as_row()
    assert r.cov > r.seed_cov and r.ft > r.seed_ft, r.as_row()
    assert r.new_units > 0 and any((tmp_path / "corpus").iterdir())


def test_harness_reports_a_crash(fuzz_setup, tmp_path):
    """The harness is not blind: an input whose arena check is forced to fail (MCUFUZZ_SELFTEST) is a crash with a
    reproducer, and run_fuzzer counts it."""
    binaries, seeds = fuzz_setup
    r = driver.run_fuzzer("blob", 10, tmp_path / "corpus", seeds["blob"], tmp_path / "artifacts",
                          binary=binaries["blob"], env={"MCUFUZZ_SELFTEST": "1"})
    assert r.crashes >= 1 and r.returncode != 0
    assert "mcufuzz: self-test" in r.log_tail
    assert any(f.name.startswith("crash-") for f in (tmp_path / "artifacts").iterdir())

"""The `mcuformer` command line: --help of every command, size parsing, and each error a user can act on (one line
on stderr, exit status 1, no traceback): missing data set, a budget nothing meets, an unsupported operator, a
missing toolchain, bad paths. Plus the atomic writers (whole files, the user's umask) and the report on a synthetic
run. Bad files given to each command: tests/test_cli_inputs.py."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mcuformer import cli, stages
from mcuformer.format import parse_size, summary_table
from mcuformer.io import atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic
from mcuformer.summary import Summary

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ["run", "search", "train", "export", "lower", "memory", "build", "run-mcu", "report"]


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("mcuformer: error:")]
    assert len(lines) == 1, err
    return lines[0]


# ---- --help --------------------------------------------------------------------------------------------------


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for c in COMMANDS:
        assert c in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == cli.EXIT_USAGE
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("cmd,words", [
    ("run", ["64 KB", "QEMU", "Resumable", "--images", "--board", "--sram", "--flash", "--latency-ms"]),
    ("search", ["--sram", "--budget", "--flash", "--flash-budget", "--latency-ms", "stm32h743", "--epochs",
                "planner"]),
    ("train", ["supernet", "finetune", "resume"]),
    ("export", ["torch.export", ".pt2"]),
    ("lower", ["MCUFormerQuantizer", "--overwrite-input", "MCUFormerPartitioner", "--sram", "--board"]),
    ("memory", ["--png", "--budget"]),
    ("build", ["--board", "--target", "stm32f746", "QSPI"]),
    ("run-mcu", ["--input", "--output"]),
    ("report", ["index.html", "accuracy vs SRAM", "instruction"]),
])
def test_each_command_help(cmd, words, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mcuformer {cmd}")
    for w in words:
        assert w in out, f"{cmd} --help does not mention {w}"


# ---- sizes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [("64KB", 65536), ("64K", 65536), ("320KiB", 327680), ("320kB", 327680),
                                        ("65536", 65536), ("1MB", 1 << 20), ("1.5M", 3 << 19), ("512B", 512)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "64QB", "-1", "KB", "0", "1.3"])
def test_parse_size_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError, match="not a (size|positive whole number of bytes)"):
        parse_size(text)


def test_bad_size_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["search", "--budget", "lots"])
    assert e.value.code == 2
    assert "not a size: 'lots'" in capsys.readouterr().err


# ---- errors a user can act on --------------------------------------------------------------------------------


def test_missing_dataset_says_how_to_install(tmp_path, capsys):
    rc = cli.main(["search", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert rc == cli.EXIT_USER
    line = _err(capsys)
    assert "Fashion-MNIST not found" in line
    assert "sudo apt-get install dataset-fashion-mnist" in line and "scripts/setup.sh" in line


def test_budget_nothing_meets_names_the_smallest_need(tmp_path, capsys):
    from mcuformer.backend.memory import plan_vit
    from mcuformer.nas.pipeline import MAIN_JOB, training_region

    need = plan_vit(MAIN_JOB.space.smallest(training_region(MAIN_JOB)), sram_budget=0).total_sram_bytes  # one row
    rc = cli.main(["search", "--budget", "1KB", "--out", str(tmp_path)])
    assert rc == cli.EXIT_USER
    line = _err(capsys)
    assert "meets the sram budget (1,024 B SRAM)" in line and f"needs {need:,d} B SRAM" in line
    assert f"--sram {need}" in line
    assert not (tmp_path / "nas").exists()  # failed before training anything
    # `run` checks the same thing before it loads data or trains
    assert cli.main(["run", "--budget", "1KB", "--out", str(tmp_path)]) == cli.EXIT_USER
    assert f"--sram {need}" in _err(capsys)


def test_flash_budget_nothing_meets(tmp_path, capsys):
    assert cli.main(["search", "--flash-budget", "1KB", "--out", str(tmp_path)]) == cli.EXIT_USER
    line = _err(capsys)
    assert "meets the flash budget (1,024 B flash)" in line and "--flash " in line and "--sram" not in line


def test_unsupported_operator_names_node_and_reason(tmp_path, capsys):
    class SinNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            return torch.sin(self.fc(x))

    ep = torch.export.export(SinNet().eval(), (torch.randn(1, 8),), strict=True)
    torch.export.save(ep, str(tmp_path / "sin.pt2"))
    pte = tmp_path / "sin.pte"
    rc = cli.main(["lower", str(tmp_path / "sin.pt2"), "-o", str(pte), "--calibration", "4"])
    assert rc == cli.EXIT_USER
    line = _err(capsys)
    assert "aten_sin_default" in line and "aten.sin.default has no MCUFormer kernel" in line
    assert "--allow-undelegated" in line
    assert not pte.exists() and not list(tmp_path.glob(".sin.pte*"))  # nothing half-written


def test_lower_pt2_writes_a_pte(mlp_pte, tmp_path, capsys):
    pte = mlp_pte.pte
    assert pte.read_bytes()[4:8] == b"ET12"
    assert "arena" in mlp_pte.stdout and "1 delegate(s), 0 op(s) outside" in mlp_pte.stdout
    # the model needs 64 B of SRAM (input + arena): within a 1 KB budget (exit 0), over a 32 B one (exit 1)
    assert cli.main(["memory", str(pte), "--budget", "1KB", "--json", str(tmp_path / "m.json")]) == 0
    rep = json.loads((tmp_path / "m.json").read_text())
    # the input counts against SRAM only when it sits in the input pool the plan may overwrite
    in_sram = rep["input_bytes"] if rep["input_in_sram"] else 0
    assert rep["arena_bytes"] > 0 and rep["total_sram_bytes"] == in_sram + rep["arena_bytes"]
    capsys.readouterr()
    tight = rep["total_sram_bytes"] - 1
    assert cli.main(["memory", str(pte), "--budget", str(tight)]) == 1
    assert f"total SRAM {rep['total_sram_bytes']:,d} B exceeds the budget {tight} B" in capsys.readouterr().err

    # a .pte lowered by an older mcuformer (its blob records no views/anchors): one clear line, exit 1, no wrong bound
    from fault_blobs import splice, without_buffer_records

    from mcuformer.backend.memory.report import delegate_blobs

    data = pte.read_bytes()
    blob = delegate_blobs(data)[0]
    (tmp_path / "old.pte").write_bytes(splice(data, blob, without_buffer_records(blob)))
    capsys.readouterr()
    assert cli.main(["memory", str(tmp_path / "old.pte")]) == 1
    assert "lower the model again" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", [["build", "{pte}"], ["run-mcu", "{pte}", "--input", "{npy}"]])
def test_missing_toolchain_says_how_to_install(cmd, mlp_pte, tmp_path, monkeypatch, capsys):
    pte, npy = mlp_pte.pte, mlp_pte.npy  # valid inputs: the toolchain is what is missing
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    rc = cli.main([c.format(pte=pte, npy=npy) for c in cmd])
    assert rc == cli.EXIT_USER
    line = _err(capsys)
    assert "not found on PATH" in line and "sudo apt-get install" in line and "gcc-arm-none-eabi" in line
    assert "scripts/setup.sh" in line


def test_run_checks_toolchain_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "qemu-system-arm" else "/bin/true")
    assert cli.main(["run", "--out", str(tmp_path)]) == cli.EXIT_USER
    assert "qemu-system-arm not found" in _err(capsys)
    assert not (tmp_path / "nas").exists()


@pytest.mark.parametrize("argv,what", [
    (["lower", "{d}/nope.pt", "-o", "{d}/x.pte"], "model '{d}/nope.pt' does not exist"),
    (["export", "{d}/nope", "-o", "{d}/x.pt2"], "checkpoint '{d}/nope' does not exist"),
    (["memory", "{d}/nope.pte"], ".pte '{d}/nope.pte' does not exist"),
    (["build", "{d}/nope.pte"], ".pte '{d}/nope.pte' does not exist"),
    (["run-mcu", "{d}/nope.pte", "--input", "{d}/x.npy"], ".pte '{d}/nope.pte' does not exist"),
    (["train", "finetune", "--out", "{d}"], "search result '{d}/nas/search_65536.json' does not exist"),
    (["report", "--out", "{d}"], "{d}/summary.json does not exist: run `mcuformer run"),
    (["search", "--out", "{d}/file"], "output folder '{d}/file' exists and is not a folder"),
    (["lower", "{d}/file", "-o", "{d}/x.pte"], "'{d}/file' is not a fine-tuned MCUFormer checkpoint"),
    (["lower", "{d}/bad.pt2", "-o", "{d}/x.pte"], "'{d}/bad.pt2' is not a torch.export program"),
])
def test_bad_paths(argv, what, tmp_path, capsys):
    (tmp_path / "file").write_text("not a checkpoint")
    (tmp_path / "bad.pt2").write_text("not a program")
    rc = cli.main([a.format(d=tmp_path) for a in argv])
    assert rc == cli.EXIT_USER
    assert what.format(d=tmp_path) in _err(capsys)


def test_console_script_error_is_one_line_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mcuformer.cli", "search", "--budget", "1KB", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("mcuformer: error: no sub-net")]


# ---- atomic outputs ------------------------------------------------------------------------------------------


def test_atomic_writers_replace_whole_files(tmp_path):
    p = tmp_path / "a" / "f.bin"
    write_bytes_atomic(p, b"one")
    write_bytes_atomic(p, b"two")
    assert p.read_bytes() == b"two"
    write_json_atomic(tmp_path / "x.json", {"k": 1})
    assert json.loads((tmp_path / "x.json").read_text()) == {"k": 1}
    assert sorted(os.listdir(tmp_path / "a")) == ["f.bin"]


def test_atomic_path_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writers_use_the_umask(umask, tmp_path):
    """Outputs get 0666 less the umask, as a file made by open() does (mkstemp alone would give 0600)."""
    old = os.umask(umask)
    try:
        write_bytes_atomic(tmp_path / "a.pte", b"x")
        write_text_atomic(tmp_path / "b.html", "x")
        write_json_atomic(tmp_path / "c.json", {})
        with atomic_path(tmp_path / "d.png") as tmp:
            tmp.write_bytes(b"x")
        with open(tmp_path / "reference", "w"):
            pass
    finally:
        os.umask(old)
    expected = {0o022: 0o644, 0o077: 0o600, 0o002: 0o664}[umask]
    for f in ("a.pte", "b.html", "c.json", "d.png", "reference"):
        assert (tmp_path / f).stat().st_mode & 0o777 == expected, f


# ---- report and summary on a synthetic run -------------------------------------------------------------------


def test_pareto_front():
    from mcuformer.report import pareto_front

    pts = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.65), (25, 0.8)]
    assert [pts[i] for i in pareto_front(pts)] == [(10, 0.5), (20, 0.7), (25, 0.8)]


def test_report_and_summary_table_from_synthetic_run(synthetic_summary, tmp_path):
    from mcuformer.report import write_report

    table = summary_table(synthetic_summary)
    for s in ["int8 top-1 (firmware in QEMU)", "79.00%", "80.00%", "4,288 B", "65,536 B", "12,000",
              "0.06 ms", "a note"]:
        assert s in table
    index = write_report(synthetic_summary, tmp_path / "report")
    doc = index.read_text()
    assert (tmp_path / "report" / "pareto.png").stat().st_size > 1000
    assert (tmp_path / "report" / "ops.png").stat().st_size > 1000
    assert "pareto.png" in doc and "ops.png" in doc and "no .pte at" in doc and "Softmax" in doc


def test_summary_json_keeps_its_keys(synthetic_summary, tmp_path):
    """The typed summary writes the keys the report, benchmarks/main_job.py and the README read, and reads back."""
    synthetic_summary.save(tmp_path / "summary.json")
    d = json.loads((tmp_path / "summary.json").read_text())
    assert list(d) == ["board", "budget_bytes", "flash_budget_bytes", "latency_budget_ms", "clock_hz", "preset", "arch",
                       "arch_short", "macs", "search", "test_images", "fp32_top1", "fp32_top1_full_test", "int8_top1",
                       "memory", "mcu", "instructions_per_inference", "est_ms", "lower", "paths", "seconds", "notes"]
    assert list(d["memory"]) == ["total_sram_bytes", "arena_bytes", "input_bytes", "bound_bytes", "weights_bytes",
                                 "plan_vit_int8_input_sram_bytes", "within_budget"]
    assert list(d["search"]) == ["val_acc", "planned_sram_bytes", "planned_flash_bytes", "candidates", "seconds",
                                 "path", "latency_ms", "binding", "used", "min_sram_bytes"]
    assert Summary.load(tmp_path / "summary.json") == synthetic_summary


def test_auto_threads_sees_other_work_now():
    """With every core kept busy by other processes, training takes one thread; the reading is of the present
    moment (/proc/stat over half a second), not the lagging load average."""
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat")
    burn = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.3)
        assert stages.busy_cores() >= 0.5 * (os.cpu_count() or 1)
        assert stages.auto_threads() == 1
    finally:
        for b in burn:
            b.kill()
            b.wait()

"""`pip install` of the repository (a wheel, not editable) into a fresh venv is a working product: the README's
Python API example and `mcuformer run-mcu` run outside the checkout, the C++ sources build from the installed
package into a per-user cache, and nothing is written into site-packages."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("```python", text.index("## Python API")) + len("```python")
    return text[start:text.index("```", start)]


def _files(root: Path) -> set[str]:
    # Bytecode caches are Python's own (pip writes them at install time already).
    return {str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(pip + ["wheel", "-q", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist")],
                   check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("mcuformer-*.whl"))
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # torch, executorch & co. come from the project's venv (a .pth line, so its editable mcuformer stays out);
    # mcuformer itself only from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(pip + ["--python", str(py), "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True)
    work, home = tmp / "work", tmp / "home"
    work.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCUFORMER_", "PYTHON", "XDG_"))}
    env.update(HOME=str(home), PATH=f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}")
    return {"py": py, "bin": env_dir / "bin", "site": site, "work": work, "home": home, "env": env}


def _run(v, *cmd, timeout=1200):
    r = subprocess.run([str(c) for c in cmd], cwd=v["work"], env=v["env"], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def test_installed_package_runs_outside_the_checkout(venv):
    before = _files(venv["site"])
    where = _run(venv, venv["py"], "-c", "import mcuformer.backend, mcuformer.paths as p; "
                 "print(mcuformer.backend.__file__); print(p.build_root())").split()
    assert Path(where[0]).is_relative_to(venv["site"]), where
    assert Path(where[1]) == venv["home"] / ".cache" / "mcuformer" / "0.1.0"

    (venv["work"] / "example.py").write_text(_readme_example())
    assert "torch.Size([1, 10])" in _run(venv, venv["py"], "example.py")
    assert (venv["home"] / ".cache" / "mcuformer" / "0.1.0" / "host" / "libmcuformer_host.so").is_file()

    # The firmware in QEMU gives what ExecuTorch's runtime gives on the host, for the same .pte.
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.save(venv["work"] / "x.npy", x)
    _run(venv, venv["py"], "-c", "import numpy as np; from mcuformer.backend.runtime_loader import run_pte; "
         "np.save('host.npy', run_pte('model.pte', np.load('x.npy')))")
    _run(venv, venv["bin"] / "mcuformer", "run-mcu", "model.pte", "--input", "x.npy", "--output", "mcu.npy")
    host, mcu = np.load(venv["work"] / "host.npy"), np.load(venv["work"] / "mcu.npy")
    np.testing.assert_array_equal(mcu.reshape(host.shape), host)

    assert _files(venv["site"]) == before, "the installed package wrote into site-packages"

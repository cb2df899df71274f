#!/usr/bin/env bash
# Installs everything a fresh machine needs, idempotently: Debian packages (Cortex-M7 toolchain, QEMU,
# flatbuffers, Fashion-MNIST, clang for fuzzing) and the .venv at the repository root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

apt_pkgs=(gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
          flatbuffers-compiler libflatbuffers-dev dataset-fashion-mnist cmake clang libclang-rt-14-dev)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] apt-get install ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.mcuformer-setup-v2
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  echo "[setup] pip install into .venv"
  .venv/bin/pip install -q --upgrade pip
  # torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q executorch==1.5.1 torch==2.13.0
  .venv/bin/pip install -q -e '.[dev]' torch==2.13.0
  touch "$stamp"
fi

"""What the firmware says: its exit codes, its `TAG {json}` lines, and the raw input/output files it reads and writes
(per sample, each tensor in the model's dtype, every tensor starting 4-byte aligned)."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from .errors import McuError

# mcuformer::DType values -> numpy dtypes.
DTYPES = {0: np.int8, 1: np.int32, 2: np.float32, 3: np.int16}

# Firmware exit codes (examples/stm32f746/app/app_status.h).
PTE_ERRORS = {1: "pte buffer missing or too small", 2: "not an ExecuTorch program (identifier is not ET12)",
              3: "inconsistent extended header (eh00)", 4: "flatbuffer verification failed",
              5: "program does not have exactly one method", 6: "method is not exactly one delegate call",
              7: "delegate id is not MCUFormerBackend", 8: "delegate data reference missing or out of range",
              9: "delegate segment outside the pte buffer", 10: "pte buffer or delegate data not 16-byte aligned"}
STATUS = {1: "invalid blob", 2: "version mismatch", 3: "arena too small", 4: "bad input", 5: "unsupported op",
          6: "misaligned"}
APP_CODES = {60: "model arena larger than the arena linked into this firmware", 61: "io mismatch",
             62: "input error", 63: "output error", 70: "arena canary below the arena overwritten",
             71: "arena canary above the arena overwritten", 72: "stack watermark reached the stack guard",
             90: "cpu fault"}


def describe_exit_code(code: int) -> str:
    if 10 < code < 40:
        return "pte rejected: " + PTE_ERRORS.get(code - 10, "unknown loader error")
    if 40 < code < 50:
        return "model_load: " + STATUS.get(code - 40, "unknown status")
    if 50 < code < 60:
        return "model_run: " + STATUS.get(code - 50, "unknown status")
    return APP_CODES.get(code, f"exit code {code}")


def json_line(log: str, tag: str, code: int | None = None) -> dict[str, Any] | None:
    """The firmware's last `TAG {json}` line, or None when it printed none. A TAG line that is not one JSON object is
    an error naming the line (with the firmware's exit `code`): a summary we cannot read must not pass for none."""
    found = None
    for line in log.splitlines():
        if line == tag or line.startswith(tag + " "):
            try:
                found = json.loads(line[len(tag):])
            except json.JSONDecodeError as e:
                raise McuError(f"malformed {tag} line from the firmware ({e.msg}): {line[:300]!r}", code=code,
                               log=log) from None
            if not isinstance(found, dict):
                raise McuError(f"malformed {tag} line from the firmware (not a JSON object): {line[:300]!r}",
                               code=code, log=log)
    return found


def io_bytes(numels: list[int], dtypes: list[int]) -> int:
    total = 0
    for n, d in zip(numels, dtypes):
        total = (total + 3) // 4 * 4 + int(n) * np.dtype(DTYPES[int(d)]).itemsize
    return max(total, 4)


def pack_inputs(inputs: Any, info: dict[str, Any]) -> tuple[bytes, int]:
    """Raw input file: per sample, each input in the model's dtype, every input starting 4-byte aligned."""
    arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(arrays) != len(info["inputs"]):
        raise ValueError(f"the model has {len(info['inputs'])} inputs, got {len(arrays)}")
    batch = None
    flat = []
    for a, numel, dt in zip(arrays, info["inputs"], info["input_dtypes"]):
        a = np.asarray(a)
        np_dt = DTYPES[int(dt)]
        if a.size == numel:
            a = a.reshape(1, numel)
        elif a.size % numel == 0 and a.shape[0] * numel == a.size:
            a = a.reshape(a.shape[0], numel)
        else:
            raise ValueError(f"input of shape {a.shape} does not hold samples of {numel} elements")
        if batch is not None and a.shape[0] != batch:
            raise ValueError("all inputs need the same batch size")
        batch = a.shape[0]
        flat.append(np.ascontiguousarray(a.astype(np_dt, copy=False)).view(np.uint8).reshape(batch, -1))
    rows = []
    for parts in zip(*flat):
        row = b""
        for p in parts:
            row += b"\0" * ((-len(row)) % 4) + p.tobytes()
        rows.append(row)
    return b"".join(rows), int(batch or 0)


def unpack_outputs(raw: bytes, batch: int, info: dict[str, Any]) -> list[np.ndarray]:
    per = io_bytes(info["outputs"], info["output_dtypes"])
    sample = len(raw) // batch if batch else 0
    if batch == 0 or sample * batch != len(raw) or sample < per - 3:
        raise McuError(f"output file has {len(raw)} bytes, expected {batch} samples of {per} bytes")
    outs = []
    offset = 0
    buf = np.frombuffer(raw, dtype=np.uint8).reshape(batch, sample)
    for numel, dt in zip(info["outputs"], info["output_dtypes"]):
        np_dt = np.dtype(DTYPES[int(dt)])
        offset = (offset + 3) // 4 * 4
        nb = int(numel) * np_dt.itemsize
        outs.append(np.ascontiguousarray(buf[:, offset:offset + nb]).view(np_dt).reshape(batch, int(numel)))
        offset += nb
    return outs

"""A `.pte` as every command reads it: :func:`verify_pte` checks it before anything works on it, the way the
firmware's loader does, and raises one :class:`~mcuformer.errors.UserError` naming the file and the problem:

1. an ExecuTorch program: the flatbuffer file identifier ``ET12``;
2. whole: the sizes its extended header states fit in the file, and its program table reads;
3. ours: at least one ``MCUFormerBackend`` delegate;
4. each delegate blob passes its header check (magic, schema version, sizes, CRC-32: backend/serialization/
   header.py) and decodes.

    pte = verify_pte("out/model.pte")       # -> Pte(path, programs)
    pte.check_input(np.load("x.npy"), "x.npy")
    memory_of_pte("out/model.pte")          # the first delegate's memory report
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError, existing_file, first_line

ET_IDENTIFIER = b"ET12"  # bytes 4:8 of every ExecuTorch program (schema/program.fbs file_identifier)
BACKEND_ID = "MCUFormerBackend"


@dataclass(frozen=True)
class Pte:
    path: Path
    programs: list[Any]  # mcuformer.backend.ir.Program, one per MCUFormer delegate, decoded from its blob

    def input_specs(self) -> list[tuple[tuple[int, ...], str]]:
        """(shape, numpy dtype name) of each input of the (first) delegate, as the firmware reads it."""
        p = self.programs[0]
        return [(p.tensors[i].shape, p.tensors[i].dtype) for i in p.inputs]

    def check_input(self, x: Any, what: str) -> None:
        """One sample of the input (its shape) or a batch of them ([N, ...] with the leading 1 dropped or kept), in
        the input's dtype exactly: run-mcu would otherwise cast or reshape it silently."""
        specs = self.input_specs()
        if len(specs) != 1:
            raise UserError(f"{str(self.path)!r} takes {len(specs)} inputs; `mcuformer run-mcu` runs models with one "
                            "(use mcuformer.mcu.run_mcu for more)")
        shape, dtype = specs[0]
        sample = shape[1:] if shape and shape[0] == 1 else shape
        one = tuple(x.shape) in (shape, sample)
        batch = x.ndim >= 1 and x.shape[0] > 0 and tuple(x.shape[1:]) in (shape, sample)
        if not (one or batch):
            raise UserError(f"input {what} has shape {tuple(x.shape)}, the model takes {shape} (one sample) "
                            f"or [N, {', '.join(map(str, sample))}]")
        if str(x.dtype) != dtype:
            raise UserError(f"input {what} is {x.dtype}, the model takes {dtype}: convert it "
                            f"(x.astype(np.{dtype}))")


def verify_pte(path: str | Path, what: str = ".pte") -> Pte:
    from executorch.exir._serialize._program import _get_extended_header  # noqa: PLC0415

    from mcuformer.backend.memory.report import delegate_blobs  # noqa: PLC0415
    from mcuformer.backend.serialization.header import BlobError  # noqa: PLC0415
    from mcuformer.backend.serialization.serialize import deserialize  # noqa: PLC0415

    p = existing_file(path, what)
    name = repr(str(p))
    data = p.read_bytes()
    if data[4:8] != ET_IDENTIFIER:
        raise UserError(f"{name} is not an ExecuTorch program (.pte): no {ET_IDENTIFIER.decode()} file identifier")
    header = _get_extended_header(data)
    if header is not None:
        end = max(header.program_size, header.segment_base_offset + header.segment_data_size
                  if header.segment_data_size else 0)
        if end > len(data):
            raise UserError(f"{name} is truncated: its header says {end:,d} B, the file has {len(data):,d} B")
    try:
        blobs = delegate_blobs(data)
    except Exception as e:  # noqa: BLE001 - the flatbuffer reader raises struct.error, IndexError, ... on bad data
        raise UserError(f"{name} is truncated or corrupt: its ExecuTorch program does not read ({first_line(e)})") \
            from None
    if not blobs:
        raise UserError(f"{name} holds no {BACKEND_ID} delegate (a .pte of another backend, or not lowered): "
                        "lower the model with `mcuformer lower`")
    programs = []
    for k, blob in enumerate(blobs):
        try:
            programs.append(deserialize(blob))
        except BlobError as e:
            raise UserError(f"{name}: {BACKEND_ID} delegate {k}: {e}") from None
        except Exception as e:  # noqa: BLE001 - a flatbuffer whose CRC matches but does not decode
            raise UserError(f"{name}: {BACKEND_ID} delegate {k} does not decode: {first_line(e)}") from None
    return Pte(p, programs)


def memory_reports(pte: Pte) -> list[Any]:
    """The memory report (arena, live-set bound, layout) of each delegate, from the planner's records in its blob."""
    from mcuformer.backend.memory.report import blob_report  # noqa: PLC0415

    try:
        return [blob_report(program) for program in pte.programs]
    except ValueError as e:
        raise UserError(f"{str(pte.path)!r}: {e}") from None


def memory_of_pte(path: str | Path):
    """The memory report of the (first) MCUFormer delegate inside a .pte."""
    return memory_reports(verify_pte(path))[0]

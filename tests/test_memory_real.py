"""A real exported NAS ViT through quantize -> partition -> preprocess: the scheduled blob is bit-exact with the
unfused lowering, its arena equals plan_vit(arch), and `mcuformer memory` reads it back from the .pte."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mcuformer.backend import MCUFormerPartitioner, MCUFormerQuantizer, reference
from mcuformer.backend.lowering import Lowering
from mcuformer.backend.memory import plan_program, plan_vit
from mcuformer.backend.memory.report import memory_main
from mcuformer.backend.ops import RULES_BY_TARGET
from mcuformer.backend.serialization.serialize import deserialize
from mcuformer.nas.space import Arch
from mcuformer.nas.vit import ViT

ARCH = Arch(img_size=28, in_chans=1, num_classes=10, patch_size=7, embed_dim=32, depth=2, num_heads=(2, 1),
            head_dim=16, mlp_ratio=(2.0, 3.0), rank_ratio=(0.5, 1.0))


@pytest.fixture(scope="module")
def lowered(tmp_path_factory):
    from executorch.exir import to_edge_transform_and_lower
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    import mcuformer.backend.preprocess as pp

    torch.manual_seed(0)
    m = ViT(ARCH).eval()
    x = torch.randn(1, 1, 28, 28)
    gm = torch.export.export(m, (x,), strict=True).module(check_guards=False)
    prepared = prepare_pt2e(gm, MCUFormerQuantizer())
    for _ in range(4):
        prepared(torch.randn(1, 1, 28, 28))
    ep = torch.export.export(convert_pt2e(prepared), (x,), strict=True)
    unfused = []
    real = pp.lower_program

    def spy(edge_program, **opts):
        unfused.append(Lowering(edge_program, RULES_BY_TARGET).run())
        return real(edge_program, **opts)

    pp.lower_program = spy
    try:
        et = to_edge_transform_and_lower(ep, partitioner=[MCUFormerPartitioner()]).to_executorch()
    finally:
        pp.lower_program = real
    path = tmp_path_factory.mktemp("pte") / "vit.pte"
    path.write_bytes(et.buffer)
    from mcuformer.backend.memory.report import delegate_blobs

    blob = deserialize(delegate_blobs(et.buffer)[0])
    return unfused[0], blob, path, x.numpy()


def test_scheduled_blob_bit_exact(lowered):
    unfused, blob, _, x = lowered
    plan_program(unfused)
    want = reference.run(unfused, [x], arena=True)[0]
    got = reference.run(blob, [x], arena=True)[0]
    assert np.array_equal(got, want)
    assert any(op.kind == "Loop" for op in blob.ops)
    assert blob.arena_bytes < unfused.arena_bytes


def test_plan_vit_matches_real_model(lowered):
    _, blob, _, _ = lowered
    rep = plan_vit(ARCH, int8_input=False, overwrite_input=False)
    assert rep.arena_bytes == blob.arena_bytes


def test_memory_cli(lowered, tmp_path):
    _, blob, path, _ = lowered
    js, png = tmp_path / "m.json", tmp_path / "m.png"
    assert memory_main([str(path), "--json", str(js), "--png", str(png), "--budget", "65536"]) == 0
    d = json.loads(js.read_text())
    for k in ("arena_bytes", "bound_bytes", "input_bytes", "total_sram_bytes"):
        assert k in d
    assert d["arena_bytes"] == blob.arena_bytes
    assert d["input_in_sram"] is False  # a float frame is read in place: it does not count against SRAM
    assert d["total_sram_bytes"] == d["arena_bytes"] and d["input_bytes"] == 4 * 28 * 28
    assert d["bound_bytes"] <= d["arena_bytes"] + d["input_pool_bytes"]
    assert png.stat().st_size > 10_000
    assert memory_main([str(path), "--budget", "100"]) == 1


@pytest.mark.parametrize("arch", [ARCH, Arch(img_size=28, in_chans=1, num_classes=10, patch_size=4, embed_dim=48,
                                              depth=2, num_heads=(3, 1), head_dim=16, mlp_ratio=(2.0, 4.0),
                                              rank_ratio=(1.0, 0.6))], ids=["p7", "p4"])
@pytest.mark.parametrize("sram_budget", [None, 0], ids=["default", "one-row"])
def test_blob_report_is_the_compilers_report(arch, sram_budget):
    """The deployed setting (int8 image the plan overwrites): the report read back from the .pte equals plan_vit's,
    field by field, the pool-aware live-set bound and the tiles included (the blob carries the planner's views and
    anchors), by default (the STM32F746's budget: tiled) and with one row per loop (then at the bound)."""
    from mcuformer.backend.memory.report import blob_report, delegate_blobs
    from mcuformer.backend.pipeline import lower, quantize

    torch.manual_seed(1)
    x = torch.randn(1, 1, 28, 28)
    q = quantize(ViT(arch).eval(), (x,), [torch.randn(1, 1, 28, 28) for _ in range(4)])
    pte = lower(q, (x,), overwrite_input=True, int8_input=True, sram_budget=sram_budget).to_pte()
    got, want = blob_report(deserialize(delegate_blobs(pte)[0])), plan_vit(arch, sram_budget=sram_budget)
    assert got.input_pool_bytes > 0
    rows = [t["rows"] for t in got.tiles]
    assert (want.efficiency == 1.0 and max(rows) == 1) if sram_budget == 0 else max(rows) > 1
    for k in ("arena_bytes", "bound_bytes", "input_bytes", "total_sram_bytes", "flash_bytes", "input_pool_bytes",
              "planned_bytes"):
        assert getattr(got, k) == getattr(want, k), k
    assert max(got.live_bytes) == max(want.live_bytes)
    # every activation of the blob has its place in the layout: (offset, size) inside pool + arena
    assert all(0 <= off and off + size <= got.planned_bytes for _, off, size, _, _ in got.layout)


def test_blob_without_buffer_records_is_refused_clearly(lowered):
    """A blob of an older lowering (no views/anchors recorded) gets a clear error, not a wrong live-set bound."""
    from mcuformer.backend.memory.report import blob_report
    from mcuformer.backend.serialization.serialize import serialize

    _, blob, _, _ = lowered
    assert blob.buffer_records and blob_report(blob).bound_bytes > 0
    blob.buffer_records = False
    try:
        old = deserialize(serialize(blob))
    finally:
        blob.buffer_records = True
    assert not old.buffer_records
    with pytest.raises(ValueError, match="lower the model again"):
        blob_report(old)

"""The latency and flash predictors against the real firmware in QEMU, and the board table's SRAM budget.

Each network (random weights: cost does not depend on them) goes through the real pipeline (quantize -> lower ->
.pte), the firmware is built for it and run in QEMU with the instruction-count plugin; the predictors only see the
architecture.
"""

import pytest
import torch

from mcuformer import mcu
from mcuformer.backend.pipeline import lower, quantize
from mcuformer.nas.predictors.flash import predict_flash
from mcuformer.nas.predictors.latency import LatencyPredictor
from mcuformer.nas.search import Budget
from mcuformer.nas.space import FMNIST_SMALL_SPACE, Arch
from mcuformer.nas.vit import ViT
from mcuformer.targets import BOARDS, board, firmware_ram_bytes, model_sram_budget

ARCHS = {
    "p7-uniform-lowrank": FMNIST_SMALL_SPACE.uniform(7, 48, 3, 2, 3.0, 0.6),
    "p4-mixed": Arch(28, 1, 10, 4, 64, 2, (3, 1), 16, (4.0, 2.0), (1.0, 0.45)),
}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    out = {}
    for name, arch in ARCHS.items():
        torch.manual_seed(1)
        g = torch.Generator().manual_seed(1)
        imgs = torch.randn(4, 1, 28, 28, generator=g)
        lowered = lower(quantize(ViT(arch).eval(), (imgs[:1],), [imgs[i:i + 1] for i in range(1, 4)]),
                        (imgs[:1],), overwrite_input=True, int8_input=True)
        pte = tmp_path_factory.mktemp(name) / "model.pte"
        pte.write_bytes(lowered.to_pte())
        _, summary = mcu.run_mcu(pte, lowered.quantize_input(imgs[:1].numpy()), runtime="real")
        out[name] = summary
    return out


@pytest.mark.parametrize("name", list(ARCHS))
def test_latency_predictor_is_within_3_percent_of_qemu(measured, name):
    predicted = LatencyPredictor().instructions(ARCHS[name])
    qemu = measured[name]["instructions"]
    assert abs(predicted - qemu) / qemu <= 0.03, (predicted, qemu)


@pytest.mark.parametrize("name", list(ARCHS))
def test_flash_predictor_matches_the_built_elf(measured, name):
    """Internal flash = the firmware's own code and data + the .pte. The firmware part is exact (the same
    runtime build for every model); the .pte differs from the prediction only where the real blob stores
    tensor names and quantization fields the shape-only program does not have, predicted per tensor (about 15 B
    each; on the 20 held-out networks of benchmarks/bench_latency.py within 325 B): within 512 B."""
    s, est = measured[name], predict_flash(ARCHS[name])
    assert s["pte_region"] == "FLASH"
    assert s["flash_bytes"] - s["sections"][".pte_blob"] == est.firmware_bytes
    assert abs(s["pte_bytes"] - est.pte_bytes) <= 512, (s["pte_bytes"], est.pte_bytes)
    assert abs(s["flash_bytes"] - est.total_bytes) <= 512


def test_board_sram_budget_leaves_what_the_firmware_needs(measured):
    """The SRAM the firmware needs besides the model (stack, .data, .bss with the logits, arena canaries) is what a
    built ELF uses beyond the arena (the input frame is in SDRAM here), for every model."""
    for s in measured.values():
        assert s["frame_region"] == "SDRAM"
        assert s["ram_bytes"] - s["arena_bytes"] == firmware_ram_bytes(10)
    f746 = board("stm32f746")
    assert (f746.sram_bytes, f746.flash_bytes, f746.clock_hz) == (320 * 1024, 1024 * 1024, 216e6)
    assert model_sram_budget("stm32f746") == 320 * 1024 - firmware_ram_bytes(10)
    assert sorted(BOARDS) == ["stm32f427", "stm32f746", "stm32h743"]
    assert f746.ms(216e6) == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="unknown board 'stm32f999'; known: stm32f427, stm32f746, stm32h743"):
        board("stm32f999")
    h7 = Budget.for_board("stm32h743", latency_ms=50.0)
    assert (h7.sram_bytes, h7.flash_bytes, h7.latency_ms, h7.clock_hz) == (
        512 * 1024 - firmware_ram_bytes(10), 2048 * 1024, 50.0, 480e6)
    assert Budget.for_board("stm32f427", sram_bytes=64 * 1024).sram_bytes == 64 * 1024  # explicit values win


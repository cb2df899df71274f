"""The Fashion-MNIST model of the host path (issue 2), trained once per checkout and shared by the host and the
firmware tests: a ViT fine-tuned from scratch, quantized with MCUFormerQuantizer and lowered to the delegate."""
from __future__ import annotations

import fcntl
from pathlib import Path

from mcuformer.backend.pipeline import lower, quantize
from mcuformer.nas.data import batches, load_fashion_mnist
from mcuformer.nas.space import Arch
from mcuformer.nas.train import TrainConfig, finetune

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build" / "test-cache" / "fmnist-e2e"
ARCH = Arch(img_size=28, in_chans=1, num_classes=10, patch_size=7, embed_dim=48, depth=2, num_heads=(3, 3),
            head_dim=16, mlp_ratio=(2.0, 2.0), rank_ratio=(1.0, 1.0))


def deployed_fmnist():
    """(fp32 model, Lowered, data). Training resumes from / reuses the cached checkpoint; a lock keeps parallel
    test workers from training into the same folder at once."""
    data = load_fashion_mnist()
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        model = finetune(ARCH, TrainConfig(epochs=3, eval_size=1000), CACHE, data=data, progress=False).eval()
    calib = [x[i:i + 1] for x, _ in batches(data.train, 64, shuffle=False) for i in range(0, 64, 8)][:128]
    example = (calib[0],)
    return model, lower(quantize(model, example, calib), example), data

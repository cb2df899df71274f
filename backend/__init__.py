"""Ahead-of-time side of the MCUFormer ExecuTorch delegate.

    quantize (MCUFormerQuantizer) -> partition (MCUFormerPartitioner) -> preprocess (MCUFormerBackend):
    lower to IR -> fuse / schedule -> plan the arena -> serialize the blob
"""
from .partitioner import MCUFormerPartitioner
from .preprocess import MCUFormerBackend
from .quantizer import MCUFormerQuantizer


def load_runtime():
    """Builds (if needed) and loads the host C++ delegate so ExecuTorch's runtime can run MCUFormer programs."""
    from .runtime_loader import load_runtime as _load

    return _load()


__all__ = ["MCUFormerQuantizer", "MCUFormerPartitioner", "MCUFormerBackend", "load_runtime"]

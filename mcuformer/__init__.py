"""mcuformer: vision transformers on microcontrollers, as an ExecuTorch backend delegate.

The pipeline, one package per stage: ``mcuformer.nas`` (search, train, export) →
``mcuformer.backend`` (quantize → partition → lower → fuse/schedule → plan → serialize) → ``runtime/`` (C++).
"""
__version__ = "0.1.0"

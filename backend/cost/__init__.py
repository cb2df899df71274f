"""Cortex-M7 cost of a scheduled program: instructions per op from calibrated per-kind formulas (`model.py`)."""
from .model import (CALIBRATION, CostModel, OpFeatures, default_model, features, firmware_overheads, instructions,
                    runtime_sources_hash)

__all__ = ["CALIBRATION", "CostModel", "OpFeatures", "default_model", "features", "firmware_overheads", "instructions",
           "runtime_sources_hash"]

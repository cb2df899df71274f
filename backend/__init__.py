"""Ahead-of-time side of the MCUFormer ExecuTorch delegate."""

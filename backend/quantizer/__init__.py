from .quantizer import MCUFormerQuantizer

__all__ = ["MCUFormerQuantizer"]

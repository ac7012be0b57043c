"""The networks: encoder, decoders and the ACN (`acn`), the gated PixelCNN (`pixelcnn`), the mixture prior
(`prior`) and the losses in nats (`losses`)."""
from .acn import ACN, DECODE_MODES

__all__ = ["ACN", "DECODE_MODES"]

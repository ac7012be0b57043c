"""The networks: encoder, decoders and the ACN (`acn`), the gated PixelCNN (`pixelcnn`), the mixture prior
(`prior`) and the losses in nats (`losses`).

Names are imported on first use (PEP 562): importing the wing imports none of its modules."""
from ..lazy import lazy_names

__all__ = ["ACN", "DECODE_MODES"]
_HOMES = {"ACN": ".acn", "DECODE_MODES": ".acn"}

__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)

"""The images: the dataset registry and checked loading (`datasets`), the local store of the standard files
(`store`) and their published hashes (`published`), image files (`images`), keyed noise (`noise`).

Names are imported on first use (PEP 562): importing the wing imports none of its modules."""
from ..lazy import lazy_names

__all__ = ["DataError", "IMAGE_SUFFIXES", "ImageData", "ImageError", "KNOWN_DATASETS", "Split", "grid",
           "load_dataset", "noise", "save_png", "source_images", "to_gif_bytes", "to_png_bytes", "to_uint8", "user_image"]
_HOMES = {"ImageData": ".datasets", "Split": ".datasets", "load_dataset": ".datasets", "IMAGE_SUFFIXES": ".images",
          "ImageError": ".images", "grid": ".images", "save_png": ".images", "to_gif_bytes": ".images",
          "to_png_bytes": ".images", "to_uint8": ".images", "user_image": ".images", "DataError": ".published",
          "KNOWN_DATASETS": ".store", "source_images": ".store"}

__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)

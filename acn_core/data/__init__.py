"""The images: the dataset registry and checked loading (`datasets`), the local store of the standard files
(`store`) and their published hashes (`published`), image files (`images`), keyed noise (`noise`)."""
from . import noise
from .datasets import ImageData, Split, load_dataset
from .images import IMAGE_SUFFIXES, ImageError, grid, save_png, to_gif_bytes, to_png_bytes, to_uint8, user_image
from .published import DataError
from .store import KNOWN_DATASETS

__all__ = ["DataError", "IMAGE_SUFFIXES", "ImageData", "ImageError", "KNOWN_DATASETS", "Split", "grid",
           "load_dataset", "noise", "save_png", "to_gif_bytes", "to_png_bytes", "to_uint8", "user_image"]

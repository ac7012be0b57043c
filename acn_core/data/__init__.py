"""The images: the dataset registry and checked loading (`datasets`), the local store of the standard files
(`store`) and their published hashes (`published`), image files (`images`), keyed noise (`noise`).

Names are imported on first use (PEP 562): importing the wing imports none of its modules."""
from importlib import import_module

__all__ = ["DataError", "IMAGE_SUFFIXES", "ImageData", "ImageError", "KNOWN_DATASETS", "Split", "grid",
           "load_dataset", "noise", "save_png", "to_gif_bytes", "to_png_bytes", "to_uint8", "user_image"]
_HOMES = {"ImageData": ".datasets", "Split": ".datasets", "load_dataset": ".datasets", "IMAGE_SUFFIXES": ".images",
          "ImageError": ".images", "grid": ".images", "save_png": ".images", "to_gif_bytes": ".images",
          "to_png_bytes": ".images", "to_uint8": ".images", "user_image": ".images", "DataError": ".published",
          "KNOWN_DATASETS": ".store"}


def __getattr__(name: str):
    """A name of `__all__`, or a module of this package, imported on first use."""
    if name in _HOMES:
        value = globals()[name] = getattr(import_module(_HOMES[name], __name__), name)
        return value
    try:
        return import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

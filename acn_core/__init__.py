"""Associative Compression Networks (Graves, Menick, van den Oord, 2018) on a laptop CPU.

    from acn_core import RunConfig, load_dataset, train, Bundle, sampling

Each name is imported on first use (PEP 562), so `import acn_core` does not import PyTorch.
"""
from importlib import import_module

from .version import __version__  # noqa: F401  (acn_core.__version__)

__all__ = ["ACN", "Bundle", "CodeIndex", "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "exact_knn",
           "load_dataset", "sampling", "train"]
_HOMES = {"ACN": ".model", "Bundle": ".bundle", "CodeIndex": ".bundle", "DataConfig": ".config",
          "ModelConfig": ".config", "RunConfig": ".config", "TrainConfig": ".config", "exact_knn": ".knn",
          "load_dataset": ".data", "train": ".training"}


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

"""Associative Compression Networks (Graves, Menick, van den Oord, 2018) on a laptop CPU.

    from acn_core import RunConfig, load_dataset, train, Bundle, sampling

Each name is imported on first use (PEP 562), so `import acn_core` does not import PyTorch.
"""
from .lazy import lazy_names
from .version import __version__  # noqa: F401  (acn_core.__version__)

__all__ = ["ACN", "Bundle", "CodeIndex", "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "exact_knn",
           "load_dataset", "sampling", "train"]
_HOMES = {"ACN": ".model", "Bundle": ".bundle", "CodeIndex": ".bundle", "DataConfig": ".config",
          "ModelConfig": ".config", "RunConfig": ".config", "TrainConfig": ".config", "exact_knn": ".knn",
          "load_dataset": ".data", "train": ".training"}

__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)

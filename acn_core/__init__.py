"""Associative Compression Networks (Graves, Menick, van den Oord, 2018) on a laptop CPU.

    from acn_core import RunConfig, load_dataset, train, Bundle, sampling
"""
__version__ = "0.2.0"

from . import sampling  # noqa: E402
from .bundle import Bundle  # noqa: E402
from .codes import exact_knn  # noqa: E402
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from .data import load_dataset  # noqa: E402
from .index import CodeIndex  # noqa: E402
from .model import ACN  # noqa: E402
from .train import train  # noqa: E402

__all__ = ["ACN", "Bundle", "CodeIndex", "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "exact_knn",
           "load_dataset", "sampling", "train"]

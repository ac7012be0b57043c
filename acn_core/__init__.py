"""Associative Compression Networks (Graves, Menick, van den Oord, 2018) on a laptop CPU.

    from acn_core import RunConfig, load_dataset, train, Bundle, sampling
"""
from . import sampling
from .bundle import Bundle, CodeIndex
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
from .data import load_dataset
from .knn import exact_knn
from .model import ACN
from .training import train
from .version import __version__  # noqa: F401  (acn_core.__version__)

__all__ = ["ACN", "Bundle", "CodeIndex", "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "exact_knn",
           "load_dataset", "sampling", "train"]

"""Training with the neighbour-conditioned prior: the loop and its progress (`train`), the code table and its
exact neighbour search (`codes`, `fused_knn`), distributed training (`distributed`), checkpoints (`checkpoint`).

Names are imported on first use (PEP 562): importing the wing imports none of its modules."""
from ..lazy import lazy_names

__all__ = ["BatchTooLarge", "CodeTable", "EpochRecord", "Progress", "ProgressPrinter", "TrainResult", "TrainingCancelled",
           "TrainingDiverged", "train"]
_HOMES = {"CodeTable": ".codes", "BatchTooLarge": ".loop", "EpochRecord": ".loop", "TrainingCancelled": ".loop",
          "TrainingDiverged": ".loop", "TrainResult": ".loop", "train": ".loop", "Progress": ".progress",
          "ProgressPrinter": ".progress"}

__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)

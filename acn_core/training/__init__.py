"""Training with the neighbour-conditioned prior: the loop and its progress (`train`), the code table and its
exact neighbour search (`codes`, `fused_knn`), distributed training (`distributed`), checkpoints (`checkpoint`)."""
from .codes import CodeTable
from .loop import BatchTooLarge, EpochRecord, TrainingCancelled, TrainingDiverged, TrainResult, train
from .progress import Progress, ProgressPrinter

__all__ = ["BatchTooLarge", "CodeTable", "EpochRecord", "Progress", "ProgressPrinter", "TrainResult", "TrainingCancelled",
           "TrainingDiverged", "train"]

"""Training with the neighbour-conditioned prior: the loop and its progress (`train`), the code table and its
exact neighbour search (`codes`, `fused_knn`), distributed training (`distributed`), checkpoints (`checkpoint`)."""
from .codes import CodeTable
from .loop import (EpochRecord, Progress, ProgressPrinter, TrainingCancelled, TrainingDiverged, TrainResult,
                    train)

__all__ = ["CodeTable", "EpochRecord", "Progress", "ProgressPrinter", "TrainResult", "TrainingCancelled",
           "TrainingDiverged", "train"]

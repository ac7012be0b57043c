"""Training with the neighbour-conditioned prior: the loop and its progress (`train`), the code table and its
exact neighbour search (`codes`, `fused_knn`), distributed training (`distributed`), checkpoints (`checkpoint`).

Names are imported on first use (PEP 562): importing the wing imports none of its modules."""
from importlib import import_module

__all__ = ["BatchTooLarge", "CodeTable", "EpochRecord", "Progress", "ProgressPrinter", "TrainResult", "TrainingCancelled",
           "TrainingDiverged", "train"]
_HOMES = {"CodeTable": ".codes", "BatchTooLarge": ".loop", "EpochRecord": ".loop", "TrainingCancelled": ".loop",
          "TrainingDiverged": ".loop", "TrainResult": ".loop", "train": ".loop", "Progress": ".progress",
          "ProgressPrinter": ".progress"}


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

"""Questions a teacher asks of a bundle: why a code costs what it costs (`explain`), edited codes and walks
(`latent`), the atlas of the map (`atlas`); and lessons as checked data (`lesson`).

Names are imported on first use (PEP 562): importing the wing imports none of its modules."""
from importlib import import_module

__all__ = ["ACTIONS", "CodeView", "Lesson", "LessonError", "MAX_WALK_FRAMES", "Walk", "as_plain_markdown", "atlas",
           "explain", "latent", "lesson"]
_HOMES = {"MAX_WALK_FRAMES": ".latent", "CodeView": ".latent", "Walk": ".latent", "ACTIONS": ".lesson",
          "Lesson": ".lesson", "LessonError": ".lesson", "as_plain_markdown": ".lesson"}


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

"""Questions a teacher asks of a bundle: why a code costs what it costs (`explain`), edited codes and walks
(`latent`), the atlas of the map (`atlas`); and lessons as checked data (`lesson`).

Names are imported on first use (PEP 562): importing the wing imports none of its modules."""
from ..lazy import lazy_names

__all__ = ["ACTIONS", "CodeView", "Lesson", "LessonError", "MAX_WALK_FRAMES", "Walk", "as_plain_markdown", "atlas",
           "explain", "latent", "lesson"]
_HOMES = {"MAX_WALK_FRAMES": ".latent", "CodeView": ".latent", "Walk": ".latent", "ACTIONS": ".lesson",
          "Lesson": ".lesson", "LessonError": ".lesson", "as_plain_markdown": ".lesson"}

__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)

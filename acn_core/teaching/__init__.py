"""Questions a teacher asks of a bundle: why a code costs what it costs (`explain`), edited codes and walks
(`latent`), the atlas of the map (`atlas`); and lessons as checked data (`lesson`)."""
from . import atlas, explain, latent, lesson
from .latent import MAX_WALK_FRAMES, CodeView, Walk
from .lesson import ACTIONS, Lesson, LessonError, as_plain_markdown

__all__ = ["ACTIONS", "CodeView", "Lesson", "LessonError", "MAX_WALK_FRAMES", "Walk", "as_plain_markdown", "atlas",
           "explain", "latent", "lesson"]

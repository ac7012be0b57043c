"""The model bundle, the unit users train, load and share: its format and checked loading (`format`, `files`,
`schema`, `lean` images, the Annoy `index`, a slow decoder's first `views`), what a map needs read without PyTorch
(`glance`), making one (`build`: `evaluate`, `quality`, the `projection` onto a map), and sharing it (`archive`).

Names are imported on first use (PEP 562): importing the wing imports none of its modules."""
from ..lazy import lazy_names

__all__ = ["BOUND_NOTE", "Bundle", "CRITERIA", "CodeIndex", "Evaluation", "MNIST_CRITERIA", "create", "export_zip",
           "glance", "import_zip", "load", "make_lean", "projection", "reevaluate", "self_contained",
           "store_first_views", "train_bundle"]
_HOMES = {"export_zip": ".archive", "import_zip": ".archive", "create": ".build", "make_lean": ".build",
          "reevaluate": ".build", "self_contained": ".build", "store_first_views": ".build", "train_bundle": ".build",
          "BOUND_NOTE": ".evaluate", "CRITERIA": ".evaluate", "MNIST_CRITERIA": ".evaluate", "Evaluation": ".evaluate",
          "Bundle": ".format", "load": ".format", "CodeIndex": ".index"}

__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)

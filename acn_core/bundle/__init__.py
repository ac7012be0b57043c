"""The model bundle, the unit users train, load and share: its format and checked loading (`format`, `schema`,
`lean` images, the Annoy `index`), making one (`build`: `evaluate`, `quality`, the `projection` onto a map), and
sharing it (`archive`)."""
from . import projection
from .archive import export_zip, import_zip
from .build import create, make_lean, reevaluate, self_contained, train_bundle
from .evaluate import BOUND_NOTE, CRITERIA, MNIST_CRITERIA, Evaluation
from .format import Bundle, load
from .index import CodeIndex

__all__ = ["BOUND_NOTE", "Bundle", "CRITERIA", "CodeIndex", "Evaluation", "MNIST_CRITERIA", "create", "export_zip",
           "import_zip", "load", "make_lean", "projection", "reevaluate", "self_contained", "train_bundle"]

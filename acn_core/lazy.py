"""Names imported on first use (PEP 562), for acn_core and its wings: importing a package imports none of its
modules, so the app draws its first map before PyTorch is loaded."""
from __future__ import annotations

import sys
from importlib import import_module
from typing import Callable


def lazy_names(package: str, homes: dict[str, str], exported: list[str]) -> tuple[Callable, Callable]:
    """A package's `__getattr__` and `__dir__`: a name of `homes` is imported from its module (relative to
    `package`) on first use and kept; any other name is tried as a submodule."""

    def __getattr__(name: str):
        if name in homes:
            value = getattr(import_module(homes[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        try:
            return import_module(f".{name}", package)
        except ModuleNotFoundError as err:
            if err.name != f"{package}.{name}":
                raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exported})

    return __getattr__, __dir__

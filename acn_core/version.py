"""The library's one version number: written into every bundle and read by pyproject.toml."""
__version__ = "0.3.0"

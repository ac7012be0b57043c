"""Associative Compression Networks (Graves, Menick, van den Oord, 2018) on a laptop CPU."""
__version__ = "0.1.0"

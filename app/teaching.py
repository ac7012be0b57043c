"""Cached answers for the teaching views (explain a code, view an edited code, walk between two), keyed by
the bundle's content hash and what was asked, shared by every session."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import explorer
from acn_core import sampling
from acn_core.teaching import explain
from acn_core.teaching import latent
from acn_core.bundle import Bundle
from app.subjects import Subject


@st.cache_data(max_entries=128, show_spinner=False)
def _explain(path: str, content_hash: str, kind: str, index: int, image_bytes: bytes, pick: int) -> explain.Explanation:
    bundle = explorer._load(path, content_hash)
    if kind == "t":
        return explain.explain_item(bundle, index, pick)
    if kind == "h":
        return explain.explain_held_out(bundle, index, pick)
    image = np.frombuffer(image_bytes, dtype=np.uint8).reshape(bundle.dataset.shape)
    return explain.explain_image(bundle, image, pick)


def explanation(bundle: Bundle, subject: Subject, pick: int) -> explain.Explanation:
    """Why the subject's code costs what it costs, under candidate `pick`'s prior."""
    image_bytes = subject.image.tobytes() if subject.kind == "d" else b""
    return _explain(str(bundle.path), bundle.content_hash, subject.kind, subject.index, image_bytes, int(pick))


@st.cache_data(max_entries=256, show_spinner=False)
def _view(path: str, content_hash: str, code_bytes: bytes, exclude: tuple[int, ...], _progress) -> latent.CodeView:
    return latent.view_code(explorer._load(path, content_hash), np.frombuffer(code_bytes, dtype=np.float32),
                            exclude, progress=_progress)


def code_view(bundle: Bundle, code: np.ndarray, exclude: tuple[int, ...]) -> latent.CodeView:
    """An edited code decoded, placed and costed; the PixelCNN draws it pixel by pixel with a progress bar."""
    progress = explorer.progress_bar("Decoding pixel by pixel ...") if bundle.model.decoder.autoregressive else None
    return _view(str(bundle.path), bundle.content_hash, np.asarray(code, dtype=np.float32).tobytes(), exclude, progress)


@st.cache_data(max_entries=64, show_spinner=False)
def _walk(path: str, content_hash: str, a: bytes, b: bytes, frames: int, spherical: bool, exclude: tuple[int, ...],
          _progress) -> latent.Walk:
    return latent.walk(explorer._load(path, content_hash), np.frombuffer(a, dtype=np.float32),
                       np.frombuffer(b, dtype=np.float32), frames, spherical, exclude, progress=_progress)


def walk(bundle: Bundle, a: Subject, b: Subject, frames: int, spherical: bool) -> latent.Walk:
    progress = explorer.progress_bar("Decoding the walk pixel by pixel ...") \
        if bundle.model.decoder.autoregressive else None
    exclude = tuple(s.training_item for s in (a, b) if s.training_item is not None)
    return _walk(str(bundle.path), bundle.content_hash, a.code.astype(np.float32).tobytes(),
                 b.code.astype(np.float32).tobytes(), int(frames), bool(spherical), exclude, progress)


@st.cache_data(max_entries=64, show_spinner=False)
def _daydream(path: str, content_hash: str, kind: str, index: int, image_bytes: bytes, steps: int
              ) -> tuple[np.ndarray, np.ndarray]:
    bundle = explorer._load(path, content_hash)
    if kind == "t":
        start = index
    else:
        start = np.frombuffer(image_bytes, dtype=np.uint8).reshape(bundle.dataset.shape).astype(np.float32) / 255.0
    frames = list(sampling.daydream(bundle, start, steps))
    return np.stack([f.image for f in frames]), np.stack([f.map_xy for f in frames])


def daydream(bundle: Bundle, start: Subject, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A daydream chain from a subject, for contrast with a walk: frames (T, C, H, W) and positions (T, 2)."""
    return _daydream(str(bundle.path), bundle.content_hash, start.kind, start.index,
                     b"" if start.kind == "t" else start.image.tobytes(), int(steps))

"""Every cached question the app asks of a bundle, in one place. Pages ask a bundle, not a path: each answer is
keyed by the bundle's content hash (`hash_funcs`) and by what was asked, and shared by every session, so never
mutate what one returns. A leading underscore keeps an argument (a progress callback) out of the key.

Each answer imports the part of acn_core it asks where it asks it: those parts import PyTorch, which the first map
of a server is drawn without (`explorer.map_source`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from acn_core.bundle import projection
from app import figures

if TYPE_CHECKING:
    from acn_core import sampling
    from acn_core.bundle import Bundle
    from acn_core.teaching import atlas, explain, latent
    from app.subjects import Subject

BY_CONTENT = {"acn_core.bundle.format.Bundle": lambda bundle: bundle.content_hash}  # Bundle's module and name


def _cached(max_entries: int, spinner: bool | str = False):
    return st.cache_data(max_entries=max_entries, show_spinner=spinner, hash_funcs=BY_CONTENT)


def _shared(max_entries: int):
    """For answers too large to copy per call (`st.cache_resource`): shared objects, read-only."""
    return st.cache_resource(max_entries=max_entries, show_spinner=False, hash_funcs=BY_CONTENT)


def _progress(bundle: Bundle, label: str):
    """A progress bar for slow PixelCNN decoding (drawn when first called), or None for fast decoders."""
    if not bundle.model.decoder.autoregressive:
        return None
    placeholder, bar = st.empty(), []

    def update(fraction: float) -> None:
        if not bar:
            bar.append(placeholder.progress(0.0, text=label))
        bar[0].progress(min(max(fraction, 0.0), 1.0), text=label)
        if fraction >= 1.0:
            placeholder.empty()
    return update


# ---- one sample, its neighbours and reconstructions ----------------------------------------------------------

@_cached(256, spinner="Sampling reconstructions ...")
def inspect(bundle: Bundle, item: int, k: int, samples: int = 3) -> sampling.Inspection:
    """The neighbour panel of training item `item`: cached per model, sample, K and number of samples."""
    from acn_core import sampling

    return sampling.inspect(bundle, int(item), int(k), int(samples))


@_cached(64)
def inspect_held_out(bundle: Bundle, item: int, k: int) -> sampling.Inspection:
    """The panel of a held-out image: its K nearest *training* codes (the honest view of generalisation)."""
    from acn_core import sampling

    return sampling.inspect_image(bundle, bundle.test_images[int(item)].float().numpy() / 255.0, int(k))


@_cached(32)
def _inspect_image(bundle: Bundle, image_bytes: bytes, shape: tuple, k: int) -> sampling.Inspection:
    from acn_core import sampling

    image = np.frombuffer(image_bytes, dtype=np.uint8).reshape(shape).astype(np.float32) / 255.0
    return sampling.inspect_image(bundle, image, k)


def inspect_image(bundle: Bundle, image: np.ndarray, k: int) -> sampling.Inspection:
    """The panel of the user's own image, uint8 (C, H, W) converted like folder data."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    return _inspect_image(bundle, image.tobytes(), image.shape, int(k))


@_cached(64)
def _code_decodes(bundle: Bundle, item: int, _progress) -> np.ndarray:
    from acn_core import sampling

    return sampling.code_decodes(bundle, item, progress=_progress)


def code_decodes(bundle: Bundle, item: int) -> np.ndarray:
    """Training item `item`'s code z = c decoded three times (a PixelCNN's first views are stored; others are
    decoded here, the PixelCNN's with a progress bar)."""
    return _code_decodes(bundle, int(item), _progress(bundle, "Decoding pixel by pixel ..."))


@_cached(16, spinner="Comparing neighbourhoods ...")
def neighbour_overlap(a: Bundle, b: Bundle, k: int) -> np.ndarray:
    """For every item; on a large map only for the drawn sample (the rest NaN), which is what the map shows."""
    from acn_core import sampling

    items = drawn(a, ()) if a.n_train > projection.EXACT_MAP_POINTS else None
    return sampling.neighbour_overlap(a, b, int(k), items)


@_cached(4)
def bundle_zip(bundle: Bundle) -> bytes:
    from acn_core.bundle import export_zip

    return export_zip(bundle.path)


# ---- a region of training items ------------------------------------------------------------------------------

@_cached(64)
def page_picture(bundle: Bundle, items: tuple[int, ...]) -> np.ndarray:
    return figures.picture(bundle.images(list(items)), columns=20)


@_cached(8)
def _region_csv(bundle: Bundle, items: bytes) -> str:
    from acn_core import sampling

    table = sampling.describe(bundle, np.frombuffer(items, dtype=np.int64))
    columns = [np.asarray(values).astype(str) for values in table.values()]
    return ",".join(table) + "\n" + "".join(",".join(row) + "\n" for row in zip(*columns))


def region_csv(bundle: Bundle, items: np.ndarray) -> str:
    """The region's table as CSV, column by column (a row-by-row loop took ~1 s for 100,000 rows)."""
    return _region_csv(bundle, np.asarray(items, dtype=np.int64).tobytes())


@_cached(16)
def _reconstructions(bundle: Bundle, items: tuple[int, ...], _progress) -> np.ndarray:
    from acn_core import sampling

    return sampling.decode_items(bundle, list(items), progress=_progress)


def reconstructions(bundle: Bundle, items: tuple[int, ...]) -> np.ndarray:
    """Decodes of z = c for training items; with a progress bar for the PixelCNN."""
    return _reconstructions(bundle, tuple(int(i) for i in items), _progress(bundle, "Decoding pixel by pixel ..."))


# ---- the map's layers ---------------------------------------------------------------------------------------

@_cached(128)
def map_vs_code(bundle: Bundle, k: int, item: int, held_out: int | None) -> atlas.MapVsCode:
    """The K nearest training points of the shown sample (a training item, or a held-out image when
    `held_out` is given) in code space and on the map."""
    from acn_core.teaching import atlas

    if held_out is not None:
        return atlas.map_vs_code(bundle, int(k), code=bundle.test_codes[held_out].numpy(),
                                 point=bundle.test_map_xy[held_out])
    return atlas.map_vs_code(bundle, int(k), item=int(item))


@_cached(12)
def _atlas(bundle: Bundle, cells: int, _progress) -> tuple[dict, int, str]:
    from acn_core.teaching import atlas

    result = atlas.build_atlas(bundle, cells, progress=_progress)
    columns, rows = result.shape
    image = figures.layout_image(atlas.atlas_picture(result), result.origin, columns * result.cell_size,
                                 rows * result.cell_size)
    return image, len(result.counts), result.decoding


def atlas_layer(bundle: Bundle, level: str) -> tuple[dict, int, str]:
    """The atlas at `level` (`atlas.ATLAS_LEVELS`) as a plotly layout image over the map, its number of non-empty
    cells and how it was decoded; built once per model and level (the PixelCNN's with a progress bar)."""
    from acn_core.teaching import atlas

    return _atlas(bundle, atlas.ATLAS_LEVELS[level], _progress(bundle, "Decoding the atlas pixel by pixel (PixelCNN) ..."))


@_shared(4)
def _grid(bundle: Bundle) -> projection.MapGrid:
    return projection.map_grid(bundle.map_xy)


@_shared(16)
def _base_density(bundle: Bundle, attribute: str | None, shown: tuple[int, ...]) -> projection.MapDensity:
    mask = np.isin(bundle.labels, shown) if shown else None
    values = None if attribute is None else getattr(bundle, attribute)
    return projection.map_density(_grid(bundle), bundle.labels, mask, values)


@_cached(32)
def density(bundle: Bundle, attribute: str | None, shown: tuple[int, ...], region: np.ndarray | None) -> dict:
    """The density picture of every shown training point (coloured by `attribute`, the region highlighted) as a
    plotly layout image."""
    picture = _base_density(bundle, attribute, shown)
    if region is not None:
        mask = np.isin(bundle.labels, shown) if shown else None
        picture = projection.with_region(picture, _grid(bundle), region, mask)
    values = None if attribute is None else getattr(bundle, attribute)
    value_range = None if values is None else [float(values.min()), float(values.max())]
    rows, columns = picture.counts.shape
    return figures.layout_image(figures.density_picture(picture, value_range), picture.origin,
                                columns * picture.cell_size, rows * picture.cell_size)


@_cached(32)
def drawn(bundle: Bundle, shown: tuple[int, ...]) -> np.ndarray:
    """The fixed random sample of points a large map draws."""
    return projection.drawn_sample(bundle.n_train, projection.DRAWN_POINTS,
                                   np.isin(bundle.labels, shown) if shown else None)


# ---- the teaching views ---------------------------------------------------------------------------------------

@_cached(128)
def _explanation(bundle: Bundle, kind: str, index: int, image_bytes: bytes, pick: int) -> explain.Explanation:
    from acn_core.teaching import explain

    if kind == "t":
        return explain.explain_item(bundle, index, pick)
    if kind == "h":
        return explain.explain_held_out(bundle, index, pick)
    image = np.frombuffer(image_bytes, dtype=np.uint8).reshape(bundle.dataset.shape)
    return explain.explain_image(bundle, image, pick)


def explanation(bundle: Bundle, subject: Subject, pick: int) -> explain.Explanation:
    """Why the subject's code costs what it costs, under candidate `pick`'s prior."""
    image_bytes = subject.image.tobytes() if subject.kind == "d" else b""
    return _explanation(bundle, subject.kind, subject.index, image_bytes, int(pick))


@_cached(256)
def _code_view(bundle: Bundle, code_bytes: bytes, exclude: tuple[int, ...], _progress) -> latent.CodeView:
    from acn_core.teaching import latent

    return latent.view_code(bundle, np.frombuffer(code_bytes, dtype=np.float32), exclude, progress=_progress)


def code_view(bundle: Bundle, code: np.ndarray, exclude: tuple[int, ...]) -> latent.CodeView:
    """An edited code decoded, placed and costed; the PixelCNN draws it pixel by pixel with a progress bar."""
    return _code_view(bundle, np.asarray(code, dtype=np.float32).tobytes(), exclude,
                      _progress(bundle, "Decoding pixel by pixel ..."))


@_cached(64)
def _walk(bundle: Bundle, a: bytes, b: bytes, frames: int, spherical: bool, exclude: tuple[int, ...],
          _progress) -> latent.Walk:
    from acn_core.teaching import latent

    return latent.walk(bundle, np.frombuffer(a, dtype=np.float32), np.frombuffer(b, dtype=np.float32), frames,
                       spherical, exclude, progress=_progress)


def walk(bundle: Bundle, a: Subject, b: Subject, frames: int, spherical: bool) -> latent.Walk:
    """The walk from subject `a`'s code to `b`'s, decoded and costed frame by frame."""
    exclude = tuple(s.training_item for s in (a, b) if s.training_item is not None)
    return _walk(bundle, a.code.astype(np.float32).tobytes(), b.code.astype(np.float32).tobytes(), int(frames),
                 bool(spherical), exclude, _progress(bundle, "Decoding the walk pixel by pixel ..."))


@_cached(64)
def _daydream(bundle: Bundle, kind: str, index: int, image_bytes: bytes, steps: int) -> tuple[np.ndarray, np.ndarray]:
    from acn_core import sampling

    if kind == "t":
        start = index
    else:
        start = np.frombuffer(image_bytes, dtype=np.uint8).reshape(bundle.dataset.shape).astype(np.float32) / 255.0
    frames = list(sampling.daydream(bundle, start, steps))
    return np.stack([f.image for f in frames]), np.stack([f.map_xy for f in frames])


def daydream(bundle: Bundle, start: Subject, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A daydream chain from a subject, for contrast with a walk: frames (T, C, H, W) and positions (T, 2)."""
    return _daydream(bundle, start.kind, start.index, b"" if start.kind == "t" else start.image.tobytes(), int(steps))

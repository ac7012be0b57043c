"""The app's Streamlit helpers for models: where they live, cached loading and cached answers, settings
from the environment, classroom mode, shared widgets. Session and URL state are in `state.py`, figures in
`figures.py`, shared panels in `panels.py`; pages stay thin: widgets -> one call -> display.

Nothing the app imports before a page draws imports PyTorch (`tests/test_cold_start.py`): a server's first
Latent map is drawn from a glance at the bundle (`map_source`), and PyTorch is imported when a bundle is loaded."""
from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from acn_core.bundle import glance
from acn_core.runtime import configure, parse_threads
from acn_core.storage import BundleError, read_arrays, regular_file, restore_interrupted, sha256_file
from app.figures import IMAGE_PX, thumbnail

if TYPE_CHECKING:
    from acn_core.bundle import Bundle

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = REPO / "assets" / "default-mnist5k"
BUNDLED_LABEL = "default-mnist5k (bundled)"
MAX_K = 50


def home() -> Path:
    """Where trained and uploaded models and training jobs are kept (ACN_EXPLORER_HOME)."""
    return Path(os.environ.get("ACN_EXPLORER_HOME", Path.home() / ".acn-explorer"))


# A slider's value in the theme's text colour rather than the primary colour (3.9:1 on the dark theme, under
# WCAG's 4.5:1); a style-only st.html takes no room on the page
SLIDER_VALUE_CSS = "<style>div[data-testid=stSliderThumbValue] { color: inherit; }</style>"


def app_threads() -> int:
    """Inference in the app uses few threads (ACN_APP_THREADS, default 1) so a training job next to it, and other
    sessions, do not stall it (docs/environment.md); a bad value is said once a session and replaced by 1."""
    raw = os.environ.get("ACN_APP_THREADS", "1")
    try:
        return parse_threads(raw)
    except ValueError as err:
        if not st.session_state.get("_threads_warned"):
            st.session_state["_threads_warned"] = True
            st.warning(f"ACN_APP_THREADS={raw!r} is not valid ({err}); using 1 thread.")
        return 1


def setup() -> None:
    """Once per script run: slider values readable, and the thread setting checked (PyTorch's threads are set
    when a bundle is loaded: PyTorch is not imported before the first map)."""
    st.html(SLIDER_VALUE_CSS)
    app_threads()


def env_int(name: str, default: int, low: int, high: int) -> int:
    """A whole-number setting from the environment; a bad value gives a warning and the default."""
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError
        return value
    except ValueError:
        st.warning(f"{name}={raw!r} is not a whole number from {low} to {high}; using {default}.")
        return default


def classroom() -> bool:
    """Classroom mode: a teacher's passphrase is set (ACN_TEACHER_PASSPHRASE)."""
    return bool(os.environ.get("ACN_TEACHER_PASSPHRASE", ""))


def may_manage() -> bool:
    """Whether this session may train, cancel, resume and delete: always, unless classroom mode is on and
    the session has not entered the teacher's passphrase."""
    secret = os.environ.get("ACN_TEACHER_PASSPHRASE", "")
    entered = str(st.session_state.get("teacher_passphrase", ""))
    return not secret or hmac.compare_digest(entered.encode(), secret.encode())


def teacher_login() -> None:
    if classroom():
        st.sidebar.text_input("Teacher's passphrase", type="password", key="teacher_passphrase",
                              help="Classroom mode: training, cancelling, resuming and deleting need it; exploring "
                                   "and uploading do not.")


def available_models() -> dict[str, Path]:
    """Label shown in the picker -> bundle folder. The bundled models come first, the default leading."""
    found = {BUNDLED_LABEL: DEFAULT_BUNDLE}
    for config in sorted((REPO / "assets" / "paper-check").glob("*/config.json")):
        found[f"paper-check/{config.parent.name} (bundled)"] = config.parent
    models = home() / "models"
    for moved in models.glob(".*.old") if models.is_dir() else ():  # a save interrupted between two renames
        restore_interrupted(models / moved.name.split(".")[1])
    if models.is_dir():  # bundles, and folders of bundles (e.g. a paper-check output) one level down
        for config in sorted([*models.glob("*/config.json"), *models.glob("*/*/config.json")]):
            label = config.parent.relative_to(models).as_posix()
            if not any(part.startswith(".") for part in label.split("/")):
                found[label] = config.parent
    return found


# The bundled PixelCNN pairs (standard prior, ACN prior) that tell the paper's story, best first: the paper's own
# data (binarised MNIST, 60,000 training images; lean, so it needs MNIST here: `make data`), then the mnist5k
# pair that needs nothing. A lesson step or the Compare page naming the first pair shows the second where MNIST is
# missing, and says so (`stand_in`).
PAPER_PAIRS = (("paper-check/mnist-pixelcnn-standard (bundled)", "paper-check/mnist-pixelcnn-acn (bundled)"),
               ("paper-check/pixelcnn-spatial-standard (bundled)", "paper-check/pixelcnn-spatial-acn (bundled)"))
STAND_INS = dict(zip(PAPER_PAIRS[0], PAPER_PAIRS[1]))


def images_here(path: Path) -> bool:
    """Whether a bundle's images can be read on this machine: always for one that carries them; for a lean one,
    whether its dataset is in the local store (the hash is checked when it loads)."""
    from acn_core.data import DataError, source_images
    from acn_core.storage import read_json

    try:
        source = read_json(path / "config.json").get("images")
        if not isinstance(source, dict):
            return True
        for part in {source.get("train_part"), source.get("test_part")}:
            source_images(str(source.get("dataset")), str(part), str(source.get("root", "")))
        return True
    except (BundleError, DataError, OSError, ValueError):
        return False


def stand_in(label: str) -> tuple[str, str | None]:
    """`label`, or the bundled model shown in its place on a machine without its dataset (or without it), with a
    note saying so."""
    models = available_models()
    other = STAND_INS.get(label)
    if other is None or other not in models or (label in models and images_here(models[label])):
        return label, None
    why = "needs the MNIST files, which are not on this machine (`make data` gets them)" if label in models \
        else "is not on this server"
    return other, f"The PixelCNN pair trained on MNIST {why}: the pair trained on mnist5k is shown in its place."


def showable_models() -> set[str]:
    """The models a lesson step may name here: every listed one, and each that a listed one stands in for."""
    models = available_models()
    return set(models) | {label for label, other in STAND_INS.items() if other in models}


def paper_pair() -> tuple[str, str] | None:
    """The Compare page's first pair: the best of PAPER_PAIRS this machine can show (None: no bundled pair)."""
    models = available_models()
    pair = tuple(stand_in(label)[0] for label in PAPER_PAIRS[0])
    return pair if all(label in models for label in pair) else None


_LOADED: set[str] = set()  # content hashes of the bundles loaded in this process (`load_bundle`)


@st.cache_resource(max_entries=6, show_spinner="Loading model ...")
def _load(path: str, content_hash: str) -> Bundle:
    """Shared by all sessions: never mutate what this returns. Keyed by the bundle's content hash."""
    from acn_core.bundle import load

    return load(Path(path))


@st.cache_resource(max_entries=6, show_spinner=False)
def _glance(path: str, content_hash: str) -> glance.Glance:
    """Shared by all sessions: never mutate what this returns. Keyed by the bundle's content hash."""
    return glance.read(Path(path))


def _content_hash(path: Path) -> str:
    return sha256_file(regular_file(path / "config.json", "bundle file"))


def load_bundle(path: Path) -> Bundle | None:
    """The verified bundle at `path`, or None after showing why it cannot be used. Imports PyTorch."""
    configure(app_threads())
    try:
        content_hash = _content_hash(path)
        bundle = _load(str(path), content_hash)
    except (BundleError, OSError, ValueError) as err:
        st.error(f"This model cannot be used: {err}")
        return None
    _LOADED.add(content_hash)
    for note in bundle.notes:
        st.warning(f"{bundle.name}: {note}")
    return bundle


COMPARE_ROWS = [("held-out total (nats)", "total_nats"), ("reconstruction (nats)", "recon_nats"),
                ("KL under own prior (nats)", "kl_nats"), ("KL under N(0, I) (nats)", "kl_standard_nats"),
                ("k-NN accuracy, codes", "code_knn_accuracy"),
                ("k-NN accuracy, sampled codes", "sampled_code_knn_accuracy"),
                ("k-NN accuracy, raw pixels", "pixel_knn_accuracy"), ("active dimensions", "active_dims"),
                ("reconstructions keeping their label", "recon_label_agreement")]


def about(bundle: Bundle) -> str:
    """A model in a few words: its decoder and what it was trained on."""
    m = bundle.config.model
    decoder = (f"a {m.pixelcnn_layers}-layer PixelCNN ({m.pixelcnn_conditioning} code)" if m.decoder == "pixelcnn"
               else f"the {m.decoder} decoder")
    return f"{decoder} on {bundle.n_train:,} images of {bundle.dataset.name}"


def compare_table(a: Bundle, b: Bundle, label_a: str, label_b: str, overlap: np.ndarray | None) -> dict:
    """The Compare page's metrics table: one column per model."""
    def column(model: Bundle) -> list[str]:
        values = [getattr(model.evaluation, key) for _, key in COMPARE_ROWS]
        cells = ["n/a" if v is None else str(v) if isinstance(v, int) else f"{v:.3f}" for v in values]
        return cells + [f"{model.config.model.decoder} / {model.config.model.prior}",
                        "n/a" if overlap is None else f"{np.nanmean(overlap):.3f}"]

    return {"metric": [name for name, _ in COMPARE_ROWS] + ["decoder / prior", "mean neighbour overlap (Jaccard)"],
            f"A: {label_a}": column(a), f"B: {label_b}": column(b)}


def live_map(job_dir: Path) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(epoch, map (n, 2), labels (n,)) of a running job's latest snapshot, or None if none is readable yet."""
    from acn_core.jobs import LIVE_MAP

    try:
        arrays = read_arrays(job_dir / LIVE_MAP)
        return int(arrays["epoch"][0]), arrays["map"], arrays["labels"]
    except (BundleError, KeyError, IndexError, OSError):
        return None


def model_picker() -> None:
    models = available_models()
    labels = list(models)
    if st.session_state.get("model_label") not in models:
        st.session_state["model_label"] = labels[0]
    st.sidebar.selectbox("Model", labels, key="model_label",
                         help="The bundled default, models trained here (Train page) and uploaded ones (Home).")


def current_bundle() -> Bundle | None:
    path = available_models().get(st.session_state.get("model_label"))
    return None if path is None else load_bundle(path)


def require_bundle() -> Bundle:
    bundle = current_bundle()
    if bundle is None:
        st.info("No model yet: pick the bundled model in the sidebar, or train one on the Train page.")
        st.stop()
    return bundle


def map_source() -> Bundle | glance.Glance:
    """What the Latent map draws from: the chosen bundle once this process has loaded it; before that, a glance
    at it (`acn_core.bundle.glance`: the map's arrays and the bundle's own neighbours, verified, without PyTorch),
    so a server's first map is drawn without waiting ~2 s for PyTorch and the bundle (a map too large to draw every
    point waits for the bundle in any case, so it gets no glance). Stops the page like
    `require_bundle` when there is no usable model."""
    path = available_models().get(st.session_state.get("model_label"))
    if path is not None:
        try:
            content_hash = _content_hash(path)
            if content_hash not in _LOADED and glance.draws_whole_map(path):
                return _glance(str(path), content_hash)
        except (BundleError, OSError, ValueError):
            pass  # the load says why it cannot be used
    return require_bundle()


def loaded(source: Bundle | glance.Glance) -> Bundle:
    """The bundle a map source stands for: itself, or the glanced bundle loaded now (PyTorch is imported)."""
    return require_bundle() if isinstance(source, glance.Glance) else source


def show_images(images: np.ndarray, captions: list[str], container=st, alts: list[str] | None = None) -> None:
    """A row of same-size thumbnails (B, C, H, W) in [0, 1] with captions, wrapping as needed. `alts` says what
    each picture is for a screen reader (WCAG 1.1.1); without it the captions serve."""
    if len(images):
        container.image([thumbnail(image) for image in images], caption=captions, width=IMAGE_PX,
                        alt=list(alts or captions))


def progress_bar(label: str):
    """A progress callback (fraction in [0, 1]) drawing a Streamlit bar, for slow PixelCNN sampling."""
    bar = st.progress(0.0, text=label)
    return lambda fraction: bar.progress(min(max(fraction, 0.0), 1.0), text=label)

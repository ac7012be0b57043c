"""What a teaching view is about: a training sample, a held-out image or the user's own digit, written in
the URL as "t12", "h3" or "d", and the picker that chooses one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from app import state

if TYPE_CHECKING:
    from acn_core.bundle import Bundle

KINDS = {"t": "training sample", "h": "held-out image", "d": "your digit"}


@dataclass
class Subject:
    kind: str  # a key of KINDS
    index: int  # training or held-out item; 0 for your digit
    text: str  # as written in the URL: "t12", "h3", "d"
    title: str
    image: np.ndarray  # (C, H, W) uint8
    code: np.ndarray  # (D,)

    @property
    def training_item(self) -> int | None:
        """The training item whose code this is (never its own neighbour), or None."""
        return self.index if self.kind == "t" else None


def parse(text: str) -> tuple[str, int] | None:
    """ "t12" -> ("t", 12); "d" -> ("d", 0); None if it is not one of these forms."""
    text = str(text or "").strip()
    if text == "d":
        return "d", 0
    if len(text) >= 2 and text[0] in "th" and text[1:].isdigit():
        return text[0], int(text[1:])
    return None


def your_image(bundle: Bundle) -> np.ndarray | None:
    """The digit drawn or uploaded on Your digit, if it fits this model's image shape."""
    image = st.session_state.get("your_image")
    return image if image is not None and tuple(image.shape) == tuple(bundle.dataset.shape) else None


def resolve(bundle: Bundle, text: str) -> Subject:
    """The subject a text names, or ValueError saying why it cannot be used here."""
    parsed = parse(text)
    if parsed is None:
        raise ValueError(f"{str(text)[:20]!r} names no sample (write t12, h3 or d)")
    kind, index = parsed
    if kind == "t":
        index = bundle.check_item(index)
        image, code = bundle.train_images[index].numpy(), bundle.train_codes[index].numpy()
        title = f"training sample #{index} · label {bundle.label_name(int(bundle.labels[index]))}"
    elif kind == "h":
        if not 0 <= index < len(bundle.test_labels):
            raise ValueError(f"held-out image {index} does not exist: choose 0 to {len(bundle.test_labels) - 1}")
        image, code = bundle.test_images[index].numpy(), bundle.test_codes[index].numpy()
        title = f"held-out image #{index} · label {bundle.label_name(int(bundle.test_labels[index]))}"
    else:
        image = your_image(bundle)
        if image is None:
            raise ValueError("no digit of this model's size has been drawn yet: draw one on the Your digit page")
        from acn_core.sampling import encode
        code = encode(bundle, image[None].astype(np.float32) / 255.0)[0]
        title = "your digit"
    return Subject(kind, index, f"{kind}{index}" if kind != "d" else "d", title, image, code)


def picker(bundle: Bundle, key: str, label: str, default: str, container=st) -> Subject:
    """Choose a subject: a kind and an index, kept in session key `key` (and so in the URL). For the key
    "idea_of" a training subject is the selected sample, shared with the map and the other pages."""
    follows_map = key == "idea_of"
    text = st.session_state.get(key) or (f"t{state.selected_sample(bundle)}" if follows_map else default)
    if follows_map and st.session_state.get(f"_{key}_applied") != text:
        parsed = parse(text)  # a link, a lesson or the picker named a training sample: select it once
        if parsed is not None and parsed[0] == "t" and 0 <= parsed[1] < bundle.n_train:
            state.select_sample(parsed[1])
    try:
        subject = resolve(bundle, text)
    except ValueError as err:
        st.warning(f"{label}: {err}; showing the selected training sample instead.")
        subject = resolve(bundle, f"t{state.selected_sample(bundle)}")
    if follows_map and subject.kind == "t":
        subject = resolve(bundle, f"t{state.selected_sample(bundle)}")
    st.session_state[key] = st.session_state[f"_{key}_applied"] = subject.text
    kinds = [k for k in KINDS if k != "d" or your_image(bundle) is not None]
    left, right = container.columns([3, 2])
    kind_key, index_key = f"{key}_kind", f"{key}_index"
    st.session_state[kind_key] = subject.kind
    left.radio(label, kinds, format_func=KINDS.get, horizontal=True, key=kind_key, on_change=_on_kind,
               args=(key, kind_key))
    if subject.kind != "d":
        upper = bundle.n_train - 1 if subject.kind == "t" else len(bundle.test_labels) - 1
        st.session_state[index_key] = subject.index
        right.number_input(f"Index (0-{upper})", 0, upper, key=index_key, step=1, on_change=_on_index,
                           args=(key, subject.kind, index_key))
    return subject


def _on_kind(key: str, kind_key: str) -> None:
    kind = st.session_state[kind_key]
    st.session_state[key] = "d" if kind == "d" else f"{kind}{st.session_state.get('sample', 0) if kind == 't' else 0}"


def _on_index(key: str, kind: str, index_key: str) -> None:
    st.session_state[key] = f"{kind}{int(st.session_state[index_key])}"

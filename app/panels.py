"""Panels shared by pages: one sample's neighbours and reconstructions, a region of the map, the replay of a
map forming, a training job."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from app import answers, explorer, export, figures, state
from acn_core import jobs
from acn_core.data import grid, to_png_bytes

if TYPE_CHECKING:
    from acn_core import sampling
    from acn_core.bundle import Bundle

PAGE_SIZE = 200
MAX_RECONSTRUCTIONS = {False: 200, True: 16}  # per page, for fast decoders and for the PixelCNN


def panel_picture(view: sampling.Inspection) -> bytes:
    """The neighbour panel as one PNG: the image, its reconstructions; the neighbours; their reconstructions."""
    rows = [np.concatenate([view.image[None], view.reconstruction[None], view.samples]), view.neighbour_images]
    if view.neighbour_reconstructions is not None:
        rows.append(view.neighbour_reconstructions)
    width = max(len(r) for r in rows)
    blank = np.full_like(view.image, 0.5)
    padded = [np.concatenate([r, np.stack([blank] * (width - len(r)))]) if len(r) < width else r for r in rows]
    return to_png_bytes(grid(np.concatenate(padded), columns=width, scale=3))


def subject_words(bundle: Bundle, view: sampling.Inspection, title: str) -> str:
    """What the panel is about, in words for alternative text: "training sample 12, label 6", or the title."""
    if view.item is not None:
        return f"training sample {view.item}, label {bundle.label_name(view.label)}"
    return title.replace(" · ", ", ")


def sample_panel(bundle: Bundle, view: sampling.Inspection, title: str, key: str) -> None:
    """The usual panel: the image, its mean reconstruction and decodes of z ~ q(z|x), its K nearest
    training codes with distances, and their reconstructions."""
    st.subheader(title)
    if view.code_cost is not None:
        st.caption(f"Code cost {view.code_cost:.2f} nats")
    about = subject_words(bundle, view, title)
    explorer.show_images(np.concatenate([view.image[None], view.reconstruction[None], view.samples]),
                         ["image", "z = c"] + [f"z ~ q(z|x) #{i + 1}" for i in range(len(view.samples))],
                         alts=[about, f"reconstruction of {about}, z = c"]
                         + [f"decode {i + 1} of a sampled code z ~ q(z|x) of {about}"
                            for i in range(len(view.samples))])
    st.markdown(f"**{len(view.neighbour_ids)} nearest neighbours in code space**")
    labels = [bundle.label_name(int(lab)) for lab in view.neighbour_labels]
    explorer.show_images(view.neighbour_images,
                         [f"#{i} · {lab} · d={d:.2f}"
                          for i, lab, d in zip(view.neighbour_ids, labels, view.neighbour_distances)],
                         alts=[f"neighbour {rank + 1} of {about} in code space: training sample {i}, label {lab}, "
                               f"distance {d:.2f}" for rank, (i, lab, d)
                               in enumerate(zip(view.neighbour_ids, labels, view.neighbour_distances))])
    if view.neighbour_reconstructions is not None:
        st.markdown("**Their reconstructions**")
        explorer.show_images(view.neighbour_reconstructions, [f"#{i}" for i in view.neighbour_ids],
                             alts=[f"reconstruction of neighbour {rank + 1}, training sample {i}, z = c"
                                   for rank, i in enumerate(view.neighbour_ids)])
    if view.label is not None:
        agree = (view.neighbour_labels == view.label).mean()
        st.caption(f"{agree:.0%} of the neighbours share the label. Distances are Euclidean in code space.")
    st.download_button("Panel as PNG", panel_picture(view), file_name=f"{bundle.name}-{title.split(' ·')[0]}.png",
                       mime="image/png", key=f"{key}_png", icon=":material/download:")


def region_panel(bundle: Bundle, items: np.ndarray, key: str, heading: str = "Selected region") -> None:
    """A set of training items: count, label histogram, mean costs, an image grid paged by PAGE_SIZE, a
    table whose rows open the usual panel, reconstructions on demand and a CSV download."""
    if len(items) == 0:
        st.info("The selection is empty: draw a box or a lasso around some points (pick the tool in the map's "
                "toolbar), or choose a ranking.")
        return
    from acn_core import sampling

    st.subheader(f"{heading}: {len(items):,} image{'s' if len(items) != 1 else ''}")
    table = sampling.describe(bundle, items)
    stats = f"mean code cost {table['code_cost_nats'].mean():.2f} nats · mean neighbour agreement " \
            f"{table['neighbour_agreement'].mean():.0%}"
    if "recon_cost_nats" in table:
        stats += f" · mean reconstruction cost {table['recon_cost_nats'].mean():.1f} nats"
    st.caption(stats + ("" if len(items) < bundle.n_train else " · every training image is selected"))
    export.chart(figures.label_histogram(bundle.labels[items], bundle.class_names), key=f"{key}_hist",
                 width="stretch", alt=f"Bar chart: how many of the {len(items):,} selected images carry each label.")
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = 0
    if pages > 1:
        page = st.number_input(f"Page (of {pages}, {PAGE_SIZE} images each)", 1, pages, key=f"{key}_page") - 1
    shown = items[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    span = f"images {page * PAGE_SIZE + 1}-{page * PAGE_SIZE + len(shown)}"
    st.image(answers.page_picture(bundle, tuple(int(i) for i in shown)), caption=f"{span}, row by row",
             width="stretch", alt=f"grid of {heading.lower()}: {span} of {len(items)}, 20 a row, in the table's order")
    limit = MAX_RECONSTRUCTIONS[bundle.model.decoder.autoregressive]
    if st.toggle(f"Show reconstructions of this page (z = c; the first {min(limit, len(shown))})", key=f"{key}_recon"):
        recons = answers.reconstructions(bundle, tuple(int(i) for i in shown[:limit]))
        st.image(figures.picture(recons, columns=20), width="stretch",
                 alt=f"grid of the reconstructions (z = c) of the first {len(recons)} of these images, 20 a row")
    event = st.dataframe({k: v[page * PAGE_SIZE:(page + 1) * PAGE_SIZE] for k, v in table.items()}, hide_index=True,
                         on_select="rerun", selection_mode="single-row", key=f"{key}_table", height=240)
    rows = event.selection.rows if event is not None else []
    if rows and st.session_state.get(f"_{key}_row") != (page, rows[0]):
        st.session_state[f"_{key}_row"] = (page, rows[0])
        state.select_sample(int(shown[rows[0]]))
        st.rerun()
    st.download_button("Download as CSV", answers.region_csv(bundle, items),
                       file_name=f"{bundle.name}-selection.csv", mime="text/csv", key=f"{key}_csv",
                       icon=":material/download:")


def replay(bundle: Bundle, key: str) -> None:
    """A slider over the code-table snapshots kept while the model trained: the map as it formed."""
    epochs = bundle.snapshot_epochs
    if not len(epochs):
        st.info("This model kept no snapshots of its codes while it trained (made by an older version).")
        return
    position = st.select_slider("Epoch", options=list(range(len(epochs))), value=len(epochs) - 1, key=f"{key}_epoch",
                                format_func=lambda i: str(int(epochs[i])))
    maps = bundle.snapshot_maps
    labels = bundle.labels[:maps.shape[1]]
    frame = maps[position]
    layers = figures.MapLayers(extra={"xaxis": {"visible": False, "range": _range(maps[..., 0])},
                                      "yaxis": {"visible": False, "range": _range(maps[..., 1])}})
    export.chart(figures.map_figure(frame, labels, bundle.class_names, layers, f"{bundle.content_hash}-replay",
                                    height=460), key=f"{key}_map", width="stretch",
                 alt=f"Map of the codes of {maps.shape[1]:,} training images after epoch {int(epochs[position])}, "
                     f"coloured by label.")
    st.caption(f"The codes of {maps.shape[1]:,} training images after epoch {int(epochs[position])} of "
               f"{int(epochs[-1])}. Each frame's UMAP starts from the next frame's positions (working back from the "
               f"final map), so points move rather than the picture jumping.")


def _range(values: np.ndarray) -> list[float]:
    low, high = float(values.min()), float(values.max())
    pad = 0.05 * (high - low + 1e-6)
    return [low - pad, high + pad]


def _act(action, home: Path, name: str) -> None:
    try:
        action(home, name)
    except ValueError as err:  # a JobError: busy, running, taken
        st.error(str(err))


def job_panel(job: jobs.JobStatus, home: Path, manage: bool) -> None:
    """One training job: its state, progress, curves, the map forming while it runs, and its actions
    (Cancel, Resume, Delete need `manage`: classroom mode keeps them for the teacher)."""
    with st.container(border=True):
        head, actions = st.columns([4, 1])
        head.markdown(f"**{job.name}** · {job.state}" + (f" · {job.message}" if job.message else ""))
        p = job.progress
        if job.active and p is not None:
            left = p.elapsed / max(p.fraction, 1e-9) * (1 - p.fraction)
            head.progress(min(p.fraction, 1.0), text=f"epoch {p.epoch}/{p.epochs} · step {p.step}/{p.steps} · recon "
                                                     f"{p.recon:.1f} · KL {p.kl:.2f} nats · about {left:.0f}s left")
        if job.active:
            actions.button("Cancel", key=f"cancel_{job.name}", on_click=_act, args=(jobs.cancel, home, job.name),
                           disabled=not manage)
        elif job.state in ("stopped", "cancelled", "failed"):
            actions.button("Resume", key=f"resume_{job.name}", on_click=_act, args=(jobs.resume, home, job.name),
                           disabled=not manage)
        if not job.active:
            actions.button("Delete", key=f"delete_{job.name}", on_click=_act, args=(jobs.delete, home, job.name),
                           disabled=not manage)
        if job.state == "done" and job.name in explorer.available_models() and actions.button("Open", key=f"open_{job.name}"):
            st.session_state["model_label"] = job.name
            st.switch_page("../pages/home.py")
        if job.epochs:
            export.chart(figures.loss_curves([e.epoch for e in job.epochs], [e.recon for e in job.epochs],
                                             [e.kl for e in job.epochs], height=240), key=f"curves_{job.name}",
                         width="stretch", alt=f"Training curves of {job.name}: reconstruction and KL (nats) per epoch.")
        if job.active:
            live = explorer.live_map(home / "jobs" / job.name)
            if live is not None:
                epoch, xy, labels = live
                export.chart(figures.map_figure(xy, labels, [str(i) for i in range(int(labels.max()) + 1)],
                                                figures.MapLayers(), f"live-{job.name}", height=380),
                             key=f"live_{job.name}", width="stretch",
                             alt=f"Map of {len(xy):,} codes after epoch {epoch} of {job.name}, coloured by label.")
                st.caption(f"The codes after epoch {epoch}: the map forming while the model trains.")
        if job.state == "failed":
            st.code(job.log_tail[-800:] or "(no log)", language=None)

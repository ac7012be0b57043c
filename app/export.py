"""Figures for slides: every plot downloadable as a PNG at 2x and as an SVG that keeps its title, legend and axis
labels; every picture strip as a PNG with its captions. All offline.

Plots are exported by plotly.js in the browser (the modebar's camera gives the PNG at 2x; "PNG" and "SVG" buttons
under the chart ask the same camera, from the keyboard too): nothing is sent anywhere, and no browser is needed on the server.
(Server-side export with kaleido 1.5 needs Chrome on the server; with Debian's chromium run as root here it
failed to start.) WebGL layers (the large maps) are embedded in the SVG as a picture; the axes, title and
legend stay vector.
"""
from __future__ import annotations

import io
import re

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from acn_core.data import to_uint8

PNG_SCALE = 2
CAPTION_PX = 14  # caption line height under each tile, in output pixels

# Two buttons under a chart that ask its modebar's camera for a PNG at 2x or an SVG: the camera itself is a plotly
# link that the keyboard cannot reach, these are buttons that it can
_export_buttons = st.components.v2.component(
    "acn_chart_export",
    html="""<button type="button" data-format="png" aria-label="Download this chart as PNG">PNG</button>
            <button type="button" data-format="svg" aria-label="Download this chart as SVG">SVG</button>""",
    css="""button { padding: 2px 10px; margin-right: 6px; border: 1px solid #888; border-radius: 6px; background: none;
                    color: var(--st-text-color); font: 13px var(--st-font); cursor: pointer; }""",
    js="""
export default function({ parentElement, data }) {
  parentElement.querySelectorAll("button").forEach((button) => { button.onclick = () => {
    // the chart is the plotly graph in the same keyed container as these buttons
    const host = parentElement.getRootNode().host || parentElement;
    const box = host.closest("." + data.container);
    const gd = box && box.querySelector(".js-plotly-plot");
    const camera = gd && gd.querySelector('.modebar-btn[data-title^="Download plot"]');
    if (!camera) return;
    const saved = gd._context.toImageButtonOptions;
    const svg = button.dataset.format === "svg";
    gd._context.toImageButtonOptions = Object.assign({}, saved, {format: button.dataset.format,
                                                                 scale: svg ? 1 : data.png_scale});
    camera.click();
    gd._context.toImageButtonOptions = saved;
  }; });
}
""",
)


def safe_filename(name: str) -> str:
    """A file name stem of letters, digits, '-' and '_' (at most 80 characters)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:80] or "figure"


def chart_config(filename: str) -> dict:
    """plotly.js config: the modebar's camera downloads a PNG at PNG_SCALE x, named `filename`."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": PNG_SCALE,
                                                           "filename": safe_filename(filename)}}


def titled(fig: go.Figure, title: str | None) -> go.Figure:
    """`fig` with `title` drawn in it (and room for it), so an exported file says what it shows."""
    if title:
        top = max(40, (fig.layout.margin.t or 0))
        fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 14}}, margin={"t": top})
    return fig


def described(fig: go.Figure) -> str:
    """Alternative text for a chart whose caller gave none: its title and what it draws, by legend name."""
    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else ""
    names = list(dict.fromkeys(trace.name for trace in fig.data if trace.name))
    kinds = " and ".join(sorted({"bar chart" if trace.type == "bar" else "plot" for trace in fig.data})) or "chart"
    return f"{kinds.capitalize()}{': ' + title if title else ''}" + (f", showing {', '.join(names)}" if names else "")


def chart(fig: go.Figure, key: str, filename: str | None = None, title: str | None = None, alt: str | None = None,
          **plotly_chart_kwargs):
    """`st.plotly_chart(fig, key=key, ...)` whose camera button downloads a PNG at 2x, with "PNG" and "SVG"
    buttons under it; returns what st.plotly_chart returns (the selection event when `on_select` is given). `alt` says
    what the chart shows for a screen reader (WCAG 1.1.1); without it, `described(fig)`."""
    with st.container(key=f"export_{key}"):
        event = st.plotly_chart(titled(fig, title), key=key, config=chart_config(filename or key),
                                alt=alt or described(fig), **plotly_chart_kwargs)
        _export_buttons(key=f"export_{key}_buttons",
                        data={"container": f"st-key-export_{key}", "png_scale": PNG_SCALE})
    return event


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def strip_png(images: np.ndarray, captions: list[str] | None = None, columns: int = 0, scale: int = 3,
              title: str = "") -> bytes:
    """(B, C, H, W) images in [0, 1] as one PNG: tiles `scale` x their size in rows of `columns` (0 = one row),
    each with its caption under it, and an optional title line above; white background, dark text."""
    from PIL import Image, ImageDraw

    tiles = to_uint8(images)
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    count, height, width, channels = tiles.shape
    columns = columns or count
    rows = -(-count // columns)
    font = _font(max(10, CAPTION_PX - 3))
    captions = [str(c) for c in captions] if captions is not None else []
    longest = max((font.getlength(c) for c in captions), default=0)
    cell_w = int(max(width, longest + 6)) + 8
    cell_h = height + (CAPTION_PX + 4 if captions else 0) + 8
    top = CAPTION_PX + 10 if title else 0
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h + top), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((6, 4), title, fill=(30, 30, 30), font=_font(CAPTION_PX))
    for i, tile in enumerate(tiles):
        row, col = divmod(i, columns)
        x, y = col * cell_w + (cell_w - width) // 2, top + row * cell_h + 4
        sheet.paste(Image.fromarray(tile[..., 0] if channels == 1 else tile).convert("RGB"), (x, y))
        if i < len(captions):
            text_w = font.getlength(captions[i])
            draw.text((col * cell_w + (cell_w - text_w) / 2, y + height + 2), captions[i], fill=(30, 30, 30), font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def strip(images: np.ndarray, captions: list[str], key: str, filename: str, label: str = "Pictures as PNG",
          columns: int = 0, title: str = "", container=st) -> None:
    """A download button for a picture strip with its captions (see `strip_png`); made only when clicked."""
    if len(images):
        container.download_button(label, lambda: strip_png(images, captions, columns, title=title),
                                  f"{safe_filename(filename)}.png", "image/png", key=key, icon=":material/download:")

"""A drawing canvas for the Your digit page: a Streamlit custom component (v2, inline HTML and JS).

White strokes on black, like MNIST. When a stroke ends, the picture goes to Python as a PNG data URL.
(The streamlit-drawable-canvas package fails to import under Streamlit 1.67, so the app draws its own.)
"""
from __future__ import annotations

import base64

import streamlit as st

_canvas = st.components.v2.component(
    "acn_digit_canvas",
    html="""<div class="pad"><canvas width="280" height="280" role="img"
            aria-label="drawing pad: draw a digit with the mouse, a pen or a finger (or choose upload above)"></canvas>
            <div><button type="button">Clear</button><span class="hint">draw a digit with the mouse</span></div></div>""",
    css="""canvas { background: #000; border: 1px solid #888; border-radius: 6px; touch-action: none; cursor: crosshair; }
           button { margin-top: 6px; padding: 4px 14px; border: 1px solid #888; border-radius: 6px; background: none;
                    color: var(--st-text-color); cursor: pointer; }
           .hint { margin-left: 10px; color: var(--st-text-color); font: 13px var(--st-font); }""",
    js="""
export default function({ parentElement, setStateValue }) {
  const canvas = parentElement.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.lineWidth = 22; ctx.strokeStyle = "#fff";
  let drawing = false;
  const at = (e) => { const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height]; };
  canvas.onpointerdown = (e) => { drawing = true; const [x, y] = at(e); ctx.beginPath(); ctx.moveTo(x, y);
    ctx.lineTo(x + 0.1, y + 0.1); ctx.stroke(); canvas.setPointerCapture(e.pointerId); };
  canvas.onpointermove = (e) => { if (!drawing) return; const [x, y] = at(e); ctx.lineTo(x, y); ctx.stroke(); };
  canvas.onpointerup = () => { if (!drawing) return; drawing = false; setStateValue("png", canvas.toDataURL("image/png")); };
  parentElement.querySelector("button").onclick = () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height); setStateValue("png", null); };
}
""",
)


def draw(key: str) -> bytes | None:
    """Show the canvas; the PNG bytes of what is drawn so far (None before the first stroke or after Clear)."""
    result = _canvas(key=key, default={"png": None}, on_png_change=lambda: None)
    url = getattr(result, "png", None)
    if not url or not isinstance(url, str) or not url.startswith("data:image/png;base64,"):
        return None
    try:
        return base64.b64decode(url.split(",", 1)[1], validate=True)
    except ValueError:
        return None

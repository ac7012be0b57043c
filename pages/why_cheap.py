"""Why this code is cheap: the loss of one sample with its own numbers, and per code dimension the posterior
N(c_d, 1) over the prior conditioned on a neighbouring code (or over N(0, I), for a standard-prior model)."""
import numpy as np
import streamlit as st

from app import answers, explorer, export, idea_figures, state, subjects

bundle = explorer.require_bundle()
st.title("Why this code is cheap")
subject = subjects.picker(bundle, "idea_of", "Explain the code of", "t0")
candidates = answers.explanation(bundle, subject, 0).candidates
conditional = bundle.model.prior.conditional
if conditional:
    st.session_state["why_pick"] = min(max(int(st.session_state.get("why_pick", 0)), 0), len(candidates) - 1)
    pick = st.radio("The prior is conditioned on", range(len(candidates)), horizontal=True, key="why_pick",
                    format_func=lambda j: f"candidate {j + 1}: #{candidates[j]}" + (" (nearest)" if j == 0 else ""))
else:
    pick = 0
why = answers.explanation(bundle, subject, pick)
extras = {"c": "the other candidates' priors", "s": "N(0, 1)"}  # URL token -> label
if "why_show_list" not in st.session_state:  # first run: from the link
    st.session_state["why_show_list"] = [extras[t] for t in str(st.session_state.get("why_show", "")) if t in extras]
shown = st.multiselect("Also draw", list(extras.values()), key="why_show_list") if conditional else []
state.sync_url(idea_of=subject.text, why_pick=pick if conditional else None,
               why_show="".join(t for t, label in extras.items() if label in shown) or None)

left, right = st.columns([2, 3])
with left:
    images, captions, alts = [subject.image / 255.0], [subject.title], [f"the explained image: {subject.title}"]
    if conditional:
        for j, (item, distance) in enumerate(zip(why.candidates, why.candidate_distances)):
            label = bundle.label_name(int(bundle.labels[item]))
            images.append(bundle.images([item])[0])
            captions.append(f"{'ĉ = ' if j == why.pick else ''}#{item} · {label} · d={distance:.2f}")
            alts.append(f"neighbour candidate {j + 1}{' (the prior is conditioned on it)' if j == why.pick else ''}: "
                        f"training sample #{item}, label {label}, distance {distance:.2f} in code space")
    explorer.show_images(np.stack(images), captions, alts=alts)
    if conditional:
        where = "its nearest *other* training codes" if subject.kind == "t" else "its nearest training codes"
        st.caption(f"The image, then the {len(why.candidates)} candidates for ĉ: {where} (K = "
                   f"{bundle.config.train.k}). Training picks one of them at random (each code at most once a pass); "
                   "the code cost shown on the map and in the rankings conditions on the nearest.")
    else:
        st.caption("A standard-prior model sends every code under the same prior, N(0, I), whatever the other "
                   "codes: a code costs less the nearer it lies to 0.")
with right:
    recon = "?" if why.recon_nats is None else f"{why.recon_nats:.2f}"
    prior_tex = r"p(z \mid \hat c)" if conditional else r"\mathcal N(0, I)"
    st.latex(rf"\underbrace{{-\log r(x \mid z)}}_{{\text{{reconstruction}}\;{recon}}} + "
             rf"\underbrace{{\log q(z \mid x) - \log {prior_tex}}}_{{\text{{code cost (KL)}}\;{why.kl_estimate:.2f}}}"
             rf" = \underbrace{{{why.total_nats:.2f}}}_{{\text{{total}}}}\ \text{{nats}}")
    unstored = {"t": "this model stores no reconstruction costs", "h": "a held-out image has no stored cost",
                "d": "your digit has no stored cost"}[subject.kind]
    stored = subject.kind == "t" and bundle.recon_cost is not None
    notes = ["z = c + ε with this image's evaluation noise"
             + (f": the stored reconstruction cost is {bundle.recon_cost[subject.index]:.2f} nats" if stored
                else f" ({unstored}; this one is computed here)"),
             "code cost: the KL averaged over 4 draws of z ~ q(z|x), as the rankings store it"
             + (f" (stored code cost {bundle.code_cost[subject.index]:.2f})" if subject.kind == "t" and why.pick == 0
                else "")]
    if conditional:
        notes.append(f"the exact KL, dimension by dimension below: {why.kl_exact:.2f} nats. The same code under "
                     f"N(0, I) would cost {why.kl_per_dim_standard.sum():.1f} nats: that is what the neighbour saves")
    else:
        notes.append("this model has the **standard prior** N(0, I): every code is sent under the same prior, "
                     f"whatever the other codes, and its KL is ‖c‖²/2 = {why.kl_exact:.2f} nats")
    st.markdown("\n".join(f"- {n}." for n in notes))
    top = why.dims_by_kl()[:3]
    export.chart(idea_figures.kl_bars(why, "N(0, 1)" in shown), key="why_bars", width="stretch",
                 alt=f"Bar chart: the code cost (KL, nats) of each of the {len(why.kl_per_dim)} code dimensions, the "
                     "most expensive first: " + ", ".join(f"d{d} {why.kl_per_dim[d]:.2f}" for d in top) + ", ...")

st.subheader("Each dimension: the posterior over the prior")
st.caption("Blue: q(z_d | x) = N(c_d, 1), what the encoder sends. Red: the prior the receiver expects"
           + (" given the neighbour ĉ" if conditional else ", N(0, 1) for every code") + ". Where they overlap the "
           "dimension is cheap; a narrow prior far from c is expensive. Most expensive first.")
export.chart(idea_figures.densities_figure(why, why.dims_by_kl(), "the other candidates' priors" in shown,
                                           "N(0, 1)" in shown), key="why_densities", width="stretch",
             alt=f"{len(why.kl_per_dim)} small charts, one per code dimension, the most expensive first: the "
                 "posterior N(c_d, 1) filled in blue over the prior " + ("p(z_d | ĉ)" if conditional else "N(0, 1)")
                 + " as a red line, each titled with its KL in nats")

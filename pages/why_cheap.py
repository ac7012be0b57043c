"""Why this code is cheap: the loss of one sample with its own numbers, and per code dimension the posterior
N(c_d, 1) over the prior conditioned on a neighbouring code."""
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
    images = [subject.image / 255.0] + [bundle.images([i])[0] for i in why.candidates]
    captions = [subject.title] + [f"{'ĉ = ' if j == why.pick and conditional else ''}#{i} · "
                                  f"{bundle.label_name(int(bundle.labels[i]))} · d={d:.2f}"
                                  for j, (i, d) in enumerate(zip(why.candidates, why.candidate_distances))]
    explorer.show_images(np.stack(images), captions)
    where = "its nearest *other* training codes" if subject.kind == "t" else "its nearest training codes"
    st.caption(f"The image, then the {len(why.candidates)} candidates for ĉ: {where} (K = {bundle.config.train.k}). "
               "Training picks one of them at random (each code at most once a pass); the code cost shown on the "
               "map and in the rankings conditions on the nearest.")
with right:
    recon = "?" if why.recon_nats is None else f"{why.recon_nats:.2f}"
    prior_tex = r"p(z \mid \hat c)" if conditional else r"\mathcal N(0, I)"
    st.latex(rf"\underbrace{{-\log r(x \mid z)}}_{{\text{{reconstruction}}\;{recon}}} + "
             rf"\underbrace{{\log q(z \mid x) - \log {prior_tex}}}_{{\text{{KL}}\;{why.kl_estimate:.2f}}} = "
             rf"{why.total_nats:.2f}\ \text{{nats}}")
    notes = [f"z = c + ε with this image's evaluation noise (the stored reconstruction cost"
             + (f" {bundle.recon_cost[subject.index]:.2f})" if subject.kind == "t" and bundle.recon_cost is not None
                else ")"),
             f"KL: the average of 4 draws of z ~ q(z|x), as the rankings store it"
             + (f" (stored code cost {bundle.code_cost[subject.index]:.2f})" if subject.kind == "t" and why.pick == 0
                else "")]
    if conditional:
        notes.append(f"the exact KL, dimension by dimension below: {why.kl_exact:.2f} nats. The same code under "
                     f"N(0, I) would cost {why.kl_per_dim_standard.sum():.1f} nats: that is what the neighbour saves")
    else:
        notes.append("this model has the **standard prior** N(0, I): every code is sent under the same prior, "
                     f"whatever its neighbours, and its KL is ‖c‖²/2 = {why.kl_exact:.2f} nats")
    st.markdown("\n".join(f"- {n}." for n in notes))
    export.chart(idea_figures.kl_bars(why, "N(0, 1)" in shown), key="why_bars", width="stretch")

st.subheader("Each dimension: the posterior over the prior")
st.caption("Blue: q(z_d | x) = N(c_d, 1), what the encoder sends. Red: the prior the receiver expects"
           + (" given the neighbour ĉ" if conditional else "") + ". Where they overlap the dimension is cheap; "
           "a narrow prior far from c is expensive. Most expensive first.")
export.chart(idea_figures.densities_figure(why, why.dims_by_kl(), "the other candidates' priors" in shown,
                                           "N(0, 1)" in shown), key="why_densities", width="stretch")

"""Train: a form that starts a background job, and live progress of every job."""
import time

import streamlit as st

import explorer
from acn_core import jobs

st.title("Train a model")
home = explorer.home()

with st.form("train_form"):
    c = st.columns(4)
    name = c[0].text_input("Name", key="train_name", value=f"acn-{time.strftime('%m%d-%H%M%S')}", help="letters, digits, - and _")
    dataset = c[1].selectbox("Dataset", ["mnist5k", "digits", "mnist", "fashion-mnist", "kmnist", "cifar10"],
                             key="train_dataset",
                             help="mnist5k and digits are bundled; the others are read from ./data (or downloaded "
                                  "when online)")
    epochs = c[2].number_input("Epochs", 1, 500, 30, key="train_epochs")
    seed = c[3].number_input("Seed", 0, 2**31 - 1, 0)
    c = st.columns(4)
    prior = c[0].selectbox("Prior", ["acn", "standard"], help="standard = the VAE baseline with N(0, I)")
    encoder = c[1].selectbox("Encoder", ["mlp", "conv"])
    decoder = c[2].selectbox("Decoder", ["mlp", "deconv", "pixelcnn"], help="pixelcnn is slow on a CPU")
    code_dim = c[3].number_input("Code size", 2, 256, 16)
    c = st.columns(4)
    k = c[0].number_input("K (neighbours to choose from)", 1, 50, 5)
    unique = c[1].checkbox("Unique-neighbour rule", value=True,
                           help="A code serves as neighbour at most once per pass (as in the paper).")
    download = c[2].checkbox("Download dataset if missing", value=False)
    submitted = st.form_submit_button("Start training", key="train_start", type="primary", icon=":material/play_arrow:")

if submitted:
    args = ["--dataset", dataset, "--epochs", str(epochs), "--seed", str(seed), "--prior", prior,
            "--encoder", encoder, "--decoder", decoder, "--code-dim", str(code_dim), "--k", str(k)]
    args += ([] if unique else ["--no-unique-neighbours"]) + (["--download"] if download else [])
    try:
        jobs.start(home, name.strip(), args)
    except ValueError as err:
        st.error(str(err))
    else:
        st.success(f"Started {name}. It keeps running if you change page or reload.")


def job_panel(job: jobs.JobStatus) -> None:
    p = job.progress
    with st.container(border=True):
        head, actions = st.columns([4, 1])
        head.markdown(f"**{job.name}** · {job.state}" + (f" · {job.message}" if job.message else ""))
        if job.active:
            fraction = p.get("fraction", 0.0)
            left = p.get("elapsed", 0.0) / max(fraction, 1e-9) * (1 - fraction) if fraction else None
            head.progress(fraction, text=f"epoch {p.get('epoch', 1)}/{p.get('epochs', '?')} · step "
                                         f"{p.get('step', 0)}/{p.get('steps', '?')} · recon {p.get('recon', 0):.1f} "
                                         f"· KL {p.get('kl', 0):.2f} nats"
                                         + (f" · about {left:.0f}s left" if left is not None else ""))
            if actions.button("Cancel", key=f"cancel_{job.name}"):
                jobs.cancel(home, job.name)
        elif job.state in ("stopped", "cancelled", "failed"):
            if actions.button("Resume", key=f"resume_{job.name}"):
                jobs.resume(home, job.name)
            if actions.button("Delete", key=f"delete_{job.name}"):
                jobs.delete(home, job.name)
        elif job.state == "done" and job.name in explorer.available_models():
            if actions.button("Open", key=f"open_{job.name}"):
                st.session_state["model_label"] = job.name
                st.switch_page("../pages/home.py")
        if job.epochs:
            st.plotly_chart(explorer.loss_curves(job.epochs, height=240), key=f"curves_{job.name}", width="stretch")
        if job.state == "failed":
            st.code(job.log_tail[-800:] or "(no log)", language=None)


all_jobs = jobs.list_jobs(home)


@st.fragment(run_every=1.0 if any(j.active for j in all_jobs) else None)
def job_list() -> None:
    current = jobs.list_jobs(home)
    if not current:
        st.info("No training jobs yet. Fill in the form to start one; the bundled model is ready to explore.")
    for job in current:
        job_panel(job)
    if any(j.active for j in current) != any(j.active for j in all_jobs):
        st.rerun()  # a job started or ended: refresh the page (and the refresh rate)


st.subheader("Jobs")
job_list()

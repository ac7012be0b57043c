"""Train: a form that starts a background job, live progress and the map forming, and every job's state."""
import time

import streamlit as st

from app import explorer, panels
from acn_core import jobs
from acn_core.config import DATASETS, DECODERS, ENCODERS, PRIORS, RunConfig

st.title("Train a model")
home = explorer.home()
with st.form("train_form"):
    c = st.columns(4)
    name = c[0].text_input("Name", key="train_name", value=f"acn-{time.strftime('%m%d-%H%M%S')}",
                           help="letters, digits, - and _")
    config = RunConfig()
    d, m, t = config.data, config.model, config.train
    d.dataset = c[1].selectbox("Dataset", [s for s in DATASETS if s != "folder"], key="train_dataset",
                               help="mnist5k and digits are bundled; the others are read from ./data (or downloaded "
                                    "when online)")
    t.epochs = int(c[2].number_input("Epochs", 1, 1000, 30, key="train_epochs"))
    t.seed = int(c[3].number_input("Seed", 0, 2**31 - 1, 0, key="train_seed"))
    c = st.columns(4)
    m.prior = c[0].selectbox("Prior", PRIORS, help="standard = the VAE baseline with N(0, I)", key="train_prior")
    m.encoder = c[1].selectbox("Encoder", ENCODERS, index=ENCODERS.index(m.encoder), key="train_encoder")
    m.decoder = c[2].selectbox("Decoder", DECODERS, index=DECODERS.index(m.decoder), help="pixelcnn is slow on a CPU",
                               key="train_decoder")
    m.code_dim = int(c[3].number_input("Code size", 2, 256, m.code_dim, key="train_code_dim"))
    c = st.columns(4)
    t.k = int(c[0].number_input("K (neighbours to choose from)", 1, 50, t.k, key="train_k"))
    t.unique_neighbours = c[1].checkbox("Unique-neighbour rule", value=True, key="train_unique",
                                        help="A code serves as neighbour at most once per pass (as in the paper).")
    d.download = c[2].checkbox("Download dataset if missing", value=False, key="train_download")
    submitted = st.form_submit_button("Start training", key="train_start", type="primary", icon=":material/play_arrow:")

manage = explorer.may_manage()
if not manage:
    st.info("Classroom mode: training, cancelling, resuming and deleting need the teacher's passphrase (sidebar). "
            "Watching jobs and exploring models are open to everyone.")
if submitted and manage:
    try:
        jobs.start(home, name.strip(), config.validate())
    except ValueError as err:  # JobError, or a config the form should not have allowed
        st.error(str(err))
    else:
        st.success(f"Started {name}. It keeps running if you change page or reload.")


all_jobs = jobs.list_jobs(home)


@st.fragment(run_every=2.0 if any(j.active for j in all_jobs) else None)
def job_list() -> None:
    current = jobs.list_jobs(home)
    if not current:
        st.info("No training jobs yet. Fill in the form to start one; the bundled model is ready to explore.")
    for job in current:
        panels.job_panel(job, home, manage)
    if any(j.active for j in current) != any(j.active for j in all_jobs):
        st.rerun()  # a job started or ended: refresh the page (and the refresh rate)


st.subheader("Jobs")
job_list()
bundle = explorer.current_bundle()
if bundle is not None:
    st.subheader(f"How the map of {bundle.name} formed")
    panels.replay(bundle, "train_replay")

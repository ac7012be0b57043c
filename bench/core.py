"""Benchmarks of the library and of the server's answers, against a baseline measured in the same process, on
the same threads, or against a goal of `rows.GOALS`."""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from acn_core.training.codes import CodeTable
from acn_core.knn import exact_knn
from acn_core.config import TrainConfig
from acn_core.bundle.index import CodeIndex
from acn_core.model.acn import ACN
from acn_core.training.loop import Trainer

from .rows import Row, against_goal, best_time

REPO = Path(__file__).resolve().parents[1]


def clustered_codes(n: int, dim: int = 16, clusters: int = 10, seed: int = 0) -> np.ndarray:
    """Synthetic codes shaped like trained ones: well-separated clusters with spread inside."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 8, (clusters, dim))
    return (centres[rng.integers(clusters, size=n)] + rng.normal(0, 2, (n, dim))).astype(np.float32)


def trained_setup(bundle_path: Path, table_size: int, batch: int, precision: str = "fp32", mlp: bool = False
                  ) -> tuple[Trainer, Trainer, torch.Tensor, torch.Tensor]:
    """Two trainers that start from the bundled model, one with its ACN prior and one with the same encoder
    and decoder and the standard prior, sharing one code table of `table_size` rows (the bundle's codes,
    tiled with a little noise beyond its size); a batch of its training images and their table rows.
    With `mlp`, the networks are instead an MLP encoder and decoder trained for 3 epochs on the same data (an
    untrained encoder maps every image to nearly one code, and every example would compete for the same
    neighbours), and the table holds their codes: as in training, a batch's codes lie near their own entries."""
    from acn_core.bundle.format import load
    from acn_core.data.datasets import load_dataset
    from acn_core.bundle.evaluate import encode_images
    from acn_core.training.loop import train

    bundle = load(bundle_path)
    codes = bundle.train_codes
    if mlp:
        config = copy.deepcopy(bundle.config)
        config.model.encoder, config.model.decoder, config.model.encoder_input = "mlp", "mlp", "binary"
        config.train.epochs = 3
        with tempfile.TemporaryDirectory() as run_dir:
            bundle.model = train(config, load_dataset(config.data), Path(run_dir) / "run").model
        with torch.no_grad():
            codes = encode_images(bundle.model.eval(), bundle.train_images)
    g = torch.Generator().manual_seed(0)
    tiled = codes.repeat(-(-table_size // codes.shape[0]), 1)[:table_size].clone()
    tiled[codes.shape[0]:] += 0.05 * codes.std() * torch.randn(tiled[codes.shape[0]:].shape, generator=g)
    table = CodeTable(table_size, codes.shape[1], g)
    table.update(torch.arange(table_size), tiled)
    config = TrainConfig(precision=precision)
    acn = copy.deepcopy(bundle.model).train()
    standard_config = copy.deepcopy(acn.config)
    standard_config.prior = "standard"
    standard = ACN(standard_config)
    standard.load_state_dict({k: v for k, v in acn.state_dict().items() if not k.startswith("prior.")})
    trainers = [Trainer(model, table, config, torch.Generator().manual_seed(0)) for model in (acn, standard.train())]
    return trainers[0], trainers[1], bundle.train_images[:batch], torch.arange(batch)


def train_step(trainer: Trainer, images: torch.Tensor, indices: torch.Tensor) -> None:
    """One step exactly as training takes it (`Trainer.step`), starting a new pass when needed."""
    trainer.table.start_pass()
    trainer.step(images, indices, epoch=1)


def training_step_overhead(bundle_path: Path, table_sizes: tuple[int, ...], batch: int = 128,
                           precision: str = "fp32", mlp: bool = False) -> list[Row]:
    """One optimiser step of the ACN (neighbour search + mixture prior) vs the standard-prior VAE,
    starting from the bundled model (or MLP networks, `mlp`), at each code-table size; CPU time of this
    process (one thread), so that other processes on the machine do not count. Beside it the search:
    picking the batch's neighbours as the step does, and the same search by the whole score matrix."""
    from acn_core.bundle.evaluate import encode_images

    rows = []
    for n in table_sizes:
        acn, standard, images, idx = trained_setup(bundle_path, n, batch, precision, mlp)
        timings = {prior: best_time(lambda: train_step(trainer, images, idx), clock=time.process_time)
                   for prior, trainer in (("standard", standard), ("acn", acn))}
        with torch.no_grad():
            codes = encode_images(acn.model.eval(), images)
        acn.model.train()

        def search():
            acn.table.start_pass()
            acn.table.pick_neighbours(codes, idx, acn.config.k, acn.generator)

        search_time = best_time(search, clock=time.process_time)
        depth = acn.config.k + 8  # what pick_neighbours asks for first
        fused = best_time(lambda: acn.table.search(codes, idx, depth, True, False), clock=time.process_time)
        plain = best_time(lambda: acn.table.plain_search(codes, idx, depth, True, False), clock=time.process_time)
        m = acn.model.config
        rows.append(Row(f"train step ACN/standard, {m.encoder}/{m.decoder} {precision}, table {n:,}", timings["acn"] * 1e3,
                        "ms", "standard prior step", timings["standard"] * 1e3, timings["acn"] / timings["standard"],
                        f"ratio = ACN time / standard time (CPU time); neighbour search {search_time * 1e3:.2f} ms "
                        f"({search_time / timings['acn']:.0%} of the ACN step); its lists {fused * 1e3:.2f} ms, by the "
                        f"whole score matrix {plain * 1e3:.2f} ms"))
    return rows


def neighbour_search(table_sizes: tuple[int, ...], batch: int = 128, loop_queries: int = 32) -> list[Row]:
    """Batched exact k-NN (ours) vs a per-sample Python loop and scikit-learn NearestNeighbors."""
    from sklearn.neighbors import NearestNeighbors

    rows = []
    for n in table_sizes:
        table = torch.from_numpy(clustered_codes(n))
        queries = table[:batch] + 0.1
        table_np, queries_np = table.numpy(), queries.numpy()
        ours = best_time(lambda: exact_knn(queries, table, 5, exclude=torch.arange(batch)))

        def python_loop():  # as public re-implementations do: one query at a time
            for q in queries_np[:loop_queries]:
                d = ((table_np - q) ** 2).sum(1)
                np.argsort(d)[:6]

        loop = best_time(python_loop, repeats=3) * batch / loop_queries
        knn = NearestNeighbors(n_neighbors=6).fit(table_np)  # refit per epoch, queried per batch
        sk = best_time(lambda: knn.kneighbors(queries_np), repeats=3)
        rows.append(Row(f"k-NN batch of {batch}, table {n:,}", ours * 1e3, "ms", "per-sample Python loop",
                        loop * 1e3, loop / ours, "ratio = baseline time / ours"))
        rows.append(Row(f"k-NN batch of {batch}, table {n:,}", ours * 1e3, "ms", "sklearn NearestNeighbors",
                        sk * 1e3, sk / ours, "ratio = baseline time / ours"))
    return rows


def code_index(sizes: tuple[int, ...], queries: int = 200) -> list[Row]:
    """Annoy with our parameters vs exact brute force: build time, query latency, recall@10."""
    rows = []
    for n in sizes:
        codes = clustered_codes(n, seed=1)
        start = time.perf_counter()
        index = CodeIndex.build(codes)
        build = time.perf_counter() - start
        rng = np.random.default_rng(2)
        picks = rng.choice(n, size=min(queries, n), replace=False)
        probes = codes[picks] + rng.normal(0, 0.5, (len(picks), codes.shape[1])).astype(np.float32)
        table = torch.from_numpy(codes)

        def brute(q):
            d = ((table - torch.from_numpy(q)) ** 2).sum(1)
            return torch.topk(d, 10, largest=False).indices.numpy()

        exact = [brute(q) for q in probes]
        found = [index.query_vector(q, 10)[0] for q in probes]
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found)])
        annoy_t = best_time(lambda: [index.query_vector(q, 10) for q in probes[:20]], repeats=3) / 20
        brute_t = best_time(lambda: [brute(q) for q in probes[:20]], repeats=3) / 20
        rows.append(Row(f"Annoy query, {n:,} codes", annoy_t * 1e3, "ms", "exact brute force (torch)",
                        brute_t * 1e3, brute_t / annoy_t,
                        f"recall@10 {recall:.4f}; build {build:.2f} s; n_trees {index.n_trees}, "
                        f"search_k {index.search_k}"))
        rows.append(Row(f"Annoy recall@10, {n:,} codes", float(recall), "fraction"))
    return rows


def layer_flops(model: torch.nn.Module, run: Callable[[], object]) -> int:
    """Multiply-add FLOPs (2 per multiply-add) of every Linear, Conv2d and ConvTranspose2d in `model` during
    one call of `run`, counted from the shapes each layer sees (forward only)."""
    total = 0

    def count(layer: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, torch.nn.Linear):
            total += 2 * output.numel() * layer.in_features
        elif isinstance(layer, torch.nn.Conv2d):  # each output value: in/groups x kh x kw multiply-adds
            total += (2 * output.numel() * layer.in_channels // layer.groups * layer.kernel_size[0]
                      * layer.kernel_size[1])
        elif isinstance(layer, torch.nn.ConvTranspose2d):  # each input value feeds out/groups x kh x kw outputs
            total += (2 * inputs[0].numel() * layer.out_channels // layer.groups * layer.kernel_size[0]
                      * layer.kernel_size[1])

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return total


def machine_limit(bundle_path: Path, batch: int = 128) -> list[Row]:
    """FLOP/s of an ACN training step vs a plain matmul on the same threads: every linear and convolutional
    layer's multiply-adds, forward and backward (twice the forward), over the step's time."""
    trainer, _, images, idx = trained_setup(bundle_path, 4 * batch, batch)
    step_flops = 3 * layer_flops(trainer.model, lambda: train_step(trainer, images, idx))
    step_rate = step_flops / best_time(lambda: train_step(trainer, images, idx))
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    mm_rate = 2 * 512 ** 3 / best_time(lambda: a @ b)
    m = trainer.model.config
    return [Row(f"training step throughput ({m.encoder}/{m.decoder}, linear and conv layers)", step_rate / 1e9,
                "GFLOP/s", "plain 512x512 matmul", mm_rate / 1e9, step_rate / mm_rate,
                f"ratio = step / matmul; {step_flops / 1e9:.2f} GFLOP a step (forward + backward = 3 x forward); "
                f"{torch.get_num_threads()} thread(s)")]


def app_latency(bundle_path: Path, map_sizes: tuple[int, ...]) -> list[Row]:
    """What a user waits for: load, click -> neighbour panel data, one daydream step, map figure."""
    import plotly.io

    from acn_core.bundle.format import load
    from acn_core.sampling import daydream, inspect

    from app import figures  # the app's figure builders (no Streamlit)

    rows = []
    start = time.perf_counter()
    b = load(bundle_path)
    rows.append(Row("bundle load (verify + read)", (time.perf_counter() - start) * 1e3, "ms"))
    click = best_time(lambda: inspect(b, b.n_train // 2, 8), repeats=3)
    rows.append(against_goal("click -> panel data", "click -> neighbour panel data (K=8)", click))
    step = best_time(lambda: list(daydream(b, 0, 20, seed=0)), repeats=3) / 21  # start frame + 20 steps
    rows.append(against_goal("daydream step", f"daydream step ({b.config.model.decoder} decoder)", step))
    # the same two answers while a training job runs beside the app (one thread each, as the app does)
    with tempfile.TemporaryDirectory() as tmp:
        job = subprocess.Popen([sys.executable, "-m", "acn_core", "train", "--epochs", "500", "--quiet", "--out",
                                str(Path(tmp) / "busy")], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            time.sleep(8)  # past data loading, into training
            busy_click = best_time(lambda: inspect(b, b.n_train // 2, 8), repeats=3)
            busy_step = best_time(lambda: list(daydream(b, 0, 20, seed=0)), repeats=3) / 21
        finally:
            job.kill()
            job.wait()
    rows.append(Row("click -> panel data, training job running", busy_click * 1e3, "ms", "same, machine idle",
                    click * 1e3, busy_click / click, "ratio = busy / idle"))
    rows.append(Row("daydream step, training job running", busy_step * 1e3, "ms", "same, machine idle",
                    step * 1e3, busy_step / step, "ratio = busy / idle"))
    for n in map_sizes:
        reps = -(-n // b.n_train)
        jitter = np.random.default_rng(0).normal(0, 0.05, (b.n_train * reps, 2)).astype(np.float32)
        xy, labels = (np.tile(b.map_xy, (reps, 1)) + jitter)[:n], np.tile(b.labels, reps)[:n]
        layers = figures.MapLayers(selected=xy[1], neighbours=xy[:8])
        t = best_time(lambda: plotly.io.to_json(figures.map_figure(xy, labels, b.class_names, layers, "bench")),
                      repeats=3)
        rows.append(Row(f"map figure build + JSON, {n:,} points", t * 1e3, "ms"))
    return rows


PEAK_RSS = ("import re; print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)))")


def _peak_kb(code: str, *args: str) -> int:
    """Peak resident memory (VmHWM, kB) of a fresh Python process running `code`. VmHWM belongs to the
    process's own address space, unlike ru_maxrss, which a child inherits from a large parent."""
    out = subprocess.run([sys.executable, "-c", f"{code}\n{PEAK_RSS}", *args], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    return int(out.split()[-1])


def peak_memory(bundle_path: Path, epochs: int = 1) -> list[Row]:
    """Peak RSS of a training process on mnist5k and of a process holding the bundled model."""
    baseline = _peak_kb("import torch")
    loaded = _peak_kb("import sys\nfrom acn_core import Bundle, sampling\n"
                      "sampling.inspect(Bundle.load(sys.argv[1]), 0, 8)", str(bundle_path))
    training = _peak_kb("from acn_core import RunConfig, load_dataset, train\nc = RunConfig()\n"
                        f"c.train.epochs = {epochs}\ntrain(c, load_dataset(c.data))")
    return [Row("peak RSS, training mnist5k", training / 1024, "MB", "python + import torch", baseline / 1024,
                training / baseline, "ratio = measured / baseline"),
            Row("peak RSS, bundled model loaded", loaded / 1024, "MB", "python + import torch", baseline / 1024,
                loaded / baseline, "ratio = measured / baseline")]


def explorer_latency(bundle_path: Path, region_size: int = 1000) -> list[Row]:
    """Server time of the explorer's new answers: a 1,000-point region's panel (a Latent map run with the
    selection injected, against the same run without one), a drawn digit's panel, one replay frame."""
    import plotly.io
    from streamlit.testing.v1 import AppTest

    from acn_core.bundle.format import load
    from acn_core.data.images import user_image
    from acn_core.data.images import to_png_bytes
    from acn_core.sampling import inspect_image

    from app import figures

    bundle = load(bundle_path)
    rows = []
    with tempfile.TemporaryDirectory() as home:
        os.environ["ACN_EXPLORER_HOME"] = home
        at = AppTest.from_file(str(REPO / "app" / "Home.py"), default_timeout=120)
        at.run()
        at.switch_page("../pages/latent_map.py").run()
        plain = best_time(lambda: at.run(), repeats=3, min_seconds=0)
        points = [{"customdata": [int(i), 0]} for i in range(region_size)]

        def select():
            at.session_state["latent_map"] = {"selection": {"points": points, "box": [{"x": [0, 1], "y": [0, 1]}]}}
            at.session_state["_latent_map_seen"] = None
            at.run()

        region = best_time(select, repeats=3, min_seconds=0)
    rows.append(against_goal("region -> grid and histogram",
                             f"select {region_size:,} points -> grid + histogram (server)",
                             max(region - plain, 0.0),  # a difference of two timings: noise can make it negative
                             f"Latent map run with the region minus the run without ({plain * 1e3:.0f} ms)"))
    canvas = np.zeros((280, 280), dtype=np.uint8)
    canvas[40:240, 130:150] = 255  # a drawn "1", as the canvas sends it
    png = to_png_bytes(canvas[..., None])

    def drawn():
        image = user_image(png, 1, bundle.dataset.shape[1], centre=True)
        view = inspect_image(bundle, image.astype(np.float32) / 255, 8)
        layers = figures.MapLayers(yours=view.map_xy, neighbours=bundle.map_xy[view.neighbour_ids])
        plotly.io.to_json(figures.map_figure(bundle.map_xy, bundle.labels, bundle.class_names, layers, "bench"))

    t = best_time(drawn, repeats=3)
    rows.append(against_goal("drawn digit -> panel and map", "drawn digit -> its panel and map (server)", t,
                             "convert, encode, neighbours, reconstructions, map figure"))
    if len(bundle.snapshot_epochs):
        frame = bundle.snapshot_maps[len(bundle.snapshot_epochs) // 2]
        labels = bundle.labels[:frame.shape[0]]
        t = best_time(lambda: plotly.io.to_json(figures.map_figure(frame, labels, bundle.class_names,
                                                                   figures.MapLayers(), "bench")), repeats=3)
        rows.append(against_goal("replay slider -> frame",
                                 f"replay slider -> frame ({frame.shape[0]:,} points, server)", t))
    return rows


def precision_and_compile(bundle_path: Path, batch: int = 128, compile: bool = True) -> list[Row]:
    """A training step in bf16 autocast and under torch.compile against the same step in fp32."""
    rows = []
    fp32, _, images, idx = trained_setup(bundle_path, 4 * batch, batch)
    bf16, _, _, _ = trained_setup(bundle_path, 4 * batch, batch, precision="bf16")
    base = best_time(lambda: train_step(fp32, images, idx))
    t = best_time(lambda: train_step(bf16, images, idx))
    name = f"{fp32.model.config.encoder}/{fp32.model.config.decoder}"
    rows.append(Row(f"train step bf16 autocast, {name}", t * 1e3, "ms", "fp32 step", base * 1e3, base / t,
                    "ratio = fp32 time / bf16 time"))
    if not compile:
        return rows
    compiled, _, _, _ = trained_setup(bundle_path, 4 * batch, batch)
    compiled.network = torch.compile(compiled.model)
    start = time.perf_counter()
    train_step(compiled, images, idx)
    compile_seconds = time.perf_counter() - start
    t = best_time(lambda: train_step(compiled, images, idx))
    rows.append(Row(f"train step torch.compile, {name}", t * 1e3, "ms", "fp32 step", base * 1e3, base / t,
                    f"ratio = eager time / compiled time; compiling took {compile_seconds:.0f} s"))
    return rows


def throughput(config_changes: dict, processes: int, epochs: int = 3) -> float:
    """Training images per second of training (mnist5k unless `config_changes` say otherwise), with 1 or more processes
    (torchrun, one thread each), from the epoch times it reports (data loading and saving excluded)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "run.py"
        script.write_text(
            "import sys, json\nfrom acn_core import RunConfig, load_dataset, train\nfrom acn_core.runtime import "
            "configure\nfrom acn_core.training.distributed import from_environment\nconfigure(1)\nc = RunConfig()\n"
            f"for k, v in {config_changes!r}.items():\n    s, f = k.split('.')\n    setattr(getattr(c, s), f, v)\n"
            f"c.train.epochs = {epochs}\nd = load_dataset(c.data)\nc.model.channels, c.model.height, c.model.width"
            " = d.shape\ng = from_environment('cpu')\nr = train(c, d, group=g)\nif g is None or g.main:\n"
            "    print(json.dumps([len(d.train), [h.seconds for h in r.history]]))\nif g is not None:\n    g.close()\n")
        from .browser import free_port

        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
                    "--master-addr", "127.0.0.1", "--master-port", str(free_port())] if processes > 1 \
            else [sys.executable]
        for attempt in (1, 2):
            proc = subprocess.run([*launcher, str(script)], capture_output=True, text=True, cwd=REPO,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"})
            if not proc.returncode:
                break
            # the processes' own messages, not the launcher's summary of them
            said = [line for line in proc.stderr.splitlines() if re.search(r"error|terminate|what\(\)|abort", line, re.I)]
            print(f"training for the throughput row failed (attempt {attempt} of 2, code {proc.returncode}):",
                  *said[:40], sep="\n  ", file=sys.stderr)
        else:
            raise RuntimeError("training for the throughput row failed twice (see above)")
        out = proc.stdout
    images, seconds = json.loads(out.strip().splitlines()[-1])
    seconds = seconds[1:] or seconds  # the first epoch warms up
    return images / (sum(seconds) / len(seconds))


def scaling(config_changes: dict, epochs: int = 3, name: str = "") -> list[Row]:
    """Images per second: our step on one thread against the fastest public ACN, and 2 processes against 1."""
    one = throughput(config_changes, 1, epochs)
    two = throughput(config_changes, 2, epochs)
    name = name or ", ".join(f"{k.split('.')[1]}={v}" for k, v in config_changes.items()) or "default model"
    return [Row(f"training throughput, one thread ({name})", one, "img/s", "kastnerkyle to_go (issue 11)", 2850.0,
                one / 2850.0, "ratio = ours / theirs; theirs is a constant, not run here (their code is not "
                              "part of this project): measured on this machine by issue 11's author, 2,700-3,000 "
                              "img/s (middle taken), on a quiet machine"),
            Row(f"training throughput, 2 processes / 1 ({name})", two, "img/s", "1 process", one, two / one,
                f"efficiency {two / one / 2:.0%} on this 2-core machine")]


def pixelcnn_latency(bundle_path: Path) -> list[Row]:
    """What a click costs with the PixelCNN decoder: the decode of z = c and three of z ~ q(z|x), one batch."""
    from acn_core.bundle.format import load
    from acn_core.sampling import reconstruct

    bundle = load(bundle_path)
    t = best_time(lambda: reconstruct(bundle, 1, samples=3), repeats=3, min_seconds=0)
    m = bundle.config.model
    what = f"{m.pixelcnn_layers} layers, {m.pixelcnn_conditioning}" if m.decoder == "pixelcnn" else m.decoder
    return [against_goal("PixelCNN reconstructions", f"{m.decoder} reconstructions, 1 + 3 ({what})", t)]

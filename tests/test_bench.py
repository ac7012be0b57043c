"""Smoke test: the benchmark code runs on tiny sizes, so it cannot rot. (No timing is asserted.)"""
import json

from bench import core


def test_bench_runs_on_tiny_sizes(tiny_bundle, tmp_path):
    tiny = {"data.dataset": "digits", "data.max_train": 256, "model.encoder": "mlp", "model.hidden": 32}
    rows = (core.training_step_overhead(tiny_bundle, (300,), batch=16, mlp=True) + core.neighbour_search((300,), batch=16, loop_queries=4)
            + core.code_index((500,), queries=20) + core.machine_limit(tiny_bundle, batch=8)
            + core.app_latency(tiny_bundle, (100,)) + core.explorer_latency(tiny_bundle, region_size=30)
            + core.precision_and_compile(tiny_bundle, batch=8, compile=False) + core.scaling(tiny, epochs=2)
            + core.pixelcnn_latency(tiny_bundle))
    names = " ".join(r.name for r in rows)
    for part in ("train step ACN/standard", "k-NN batch", "Annoy recall@10", "throughput", "click", "daydream step",
                 "map figure", "select 30 points", "drawn digit", "replay slider", "bf16", "2 processes / 1",
                 "reconstructions, 1 + 3"):
        assert part in names, part
    assert all(r.value == r.value for r in rows)  # no NaN
    recall = [r.value for r in rows if r.name.startswith("Annoy recall")][0]
    assert 0.9 <= recall <= 1.0
    core.write_json(rows, tmp_path / "bench.json")
    assert {"name", "value", "unit", "baseline", "baseline_value", "ratio"} <= set(
        json.loads((tmp_path / "bench.json").read_text())[0])

"""Fuzzing hostile bundles (docs/bad-inputs.md rows 23-27 and 40, issue: "treat every bundle as possibly hostile").

A tiny bundle gets a few hundred seeded mutations: every metadata field replaced by wrong types,
out-of-range and huge values, keys dropped and added; safetensors headers with other dtypes, shapes and
offsets; every binary file truncated, bit-flipped and replaced. Hashes and the index sidecar are re-signed,
so a checksum cannot catch anything. Each case is loaded, asked for neighbours and a daydream in a worker
process with a timeout. Pass: no signal, no hang, no traceback; every case works or gives one clean line.
"""
import json
import queue
import random
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest


from acn_core.bundle.format import reindex
from acn_core.storage import read_tensors, sha256_file, tensors_to_bytes

WORKER = Path(__file__).with_name("fuzz_worker.py")
JSON_FILES = ("config.json", "index.json", "metrics.json")
BINARY_FILES = ("model.safetensors", "data.safetensors", "index.ann")
ODD_VALUES = [None, "x", "", [], {}, [1, 2], {"a": 1}, True, False, -1, 0, 10**12, 10**30, -10**12, 1e308, -0.5,
              3.5, "NaN", "../../etc/passwd"]


def _leaves(doc, path=()):
    """Every (path, value) in a JSON document, including whole objects and lists."""
    yield path, doc
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _leaves(value, path + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:4]):
            yield from _leaves(value, path + (i,))


def _set(doc, path, value, drop=False):
    target = doc
    for step in path[:-1]:
        target = target[step]
    if drop and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value


def resign(folder: Path) -> None:
    """Make the sidecar and config.json agree with whatever the files now hold, where their shape allows."""
    try:
        sidecar = json.loads((folder / "index.json").read_text())
        if isinstance(sidecar, dict) and "sha256" in sidecar:
            sidecar["sha256"] = sha256_file(folder / "index.ann")
            (folder / "index.json").write_text(json.dumps(sidecar))
    except (ValueError, OSError):
        pass
    try:
        meta = json.loads((folder / "config.json").read_text())
        if isinstance(meta, dict) and isinstance(meta.get("files"), dict):
            for name in list(meta["files"]):
                if (folder / name).is_file():
                    meta["files"][name] = sha256_file(folder / name)
            (folder / "config.json").write_text(json.dumps(meta))
    except (ValueError, OSError):
        pass


def json_mutations(rng: random.Random, n: int):
    for _ in range(n):
        name = rng.choice(JSON_FILES)
        kind = rng.choice(["replace", "replace", "replace", "drop", "add"])
        yield f"{name}:{kind}", name, kind


def mutate_json(folder: Path, name: str, kind: str, rng: random.Random) -> None:
    doc = json.loads((folder / name).read_text())
    paths = [p for p, _ in _leaves(doc) if p]
    path = rng.choice(paths)
    if kind == "replace":
        _set(doc, path, rng.choice(ODD_VALUES))
    elif kind == "drop":
        _set(doc, path, None, drop=True)
    else:
        target = doc
        for step in path[:-1]:
            target = target[step]
        if isinstance(target, dict):
            target[f"unexpected_{rng.randrange(100)}"] = rng.choice(ODD_VALUES)
    (folder / name).write_text(json.dumps(doc))


def mutate_header(path: Path, rng: random.Random) -> None:
    """Change one tensor's dtype, shape or offsets in a safetensors header (the data stays as it was)."""
    raw = path.read_bytes()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    name = rng.choice([k for k in header if k != "__metadata__"])
    field = rng.choice(["dtype", "shape", "data_offsets"])
    header[name][field] = {"dtype": lambda: rng.choice(["F64", "F16", "BF16", "I64", "U8", "BOOL"]),
                           "shape": lambda: [rng.choice([0, 1, 3, 10**9])] * rng.randint(0, 3),
                           "data_offsets": lambda: [rng.randint(0, 10**6), rng.randint(0, 10**7)]}[field]()
    body = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + length:])


def mutate_binary(path: Path, kind: str, rng: random.Random) -> None:
    raw = bytearray(path.read_bytes())
    if kind == "truncate":
        raw = raw[:rng.randrange(len(raw))]
    elif kind == "flip":
        for _ in range(rng.choice([1, 4, 64])):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    elif kind == "replace":
        raw = bytearray(rng.randbytes(len(raw)))
    elif kind == "empty":
        raw = bytearray()
    else:  # grow
        raw += raw[: rng.randrange(1, len(raw))]
    path.write_bytes(bytes(raw))


def mutate_lean(folder: Path, kind: str, rng: random.Random) -> None:
    """A lean bundle's own surface: its "images" record in config.json, and its source rows."""
    if kind == "rows":
        arrays = read_tensors(folder / "data.safetensors")
        name = rng.choice(["train_source_index", "test_source_index"])
        rows = arrays[name].clone()
        rows[rng.randrange(len(rows))] = rng.choice([-1, 10**9, 1796, int(rows[0])])  # out of range, or a repeat
        arrays[name] = rows
        (folder / "data.safetensors").write_bytes(tensors_to_bytes(arrays))
        return
    doc = json.loads((folder / "config.json").read_text())
    key = rng.choice(["dataset", "root", "train_part", "test_part", "sha256"])
    if kind == "drop":
        del doc["images"][key]
    elif kind == "whole":
        doc["images"] = rng.choice(ODD_VALUES)
    else:
        doc["images"][key] = rng.choice(ODD_VALUES + ["mnist", "cifar10", "folder", "train", "all", "0" * 64,
                                                      "/nonexistent", "a" * 5000])
    (folder / "config.json").write_text(json.dumps(doc))


def make_lean_cases(lean_bundle: Path, root: Path, seed: int = 1) -> list[Path]:
    rng = random.Random(seed)
    kinds = ["replace"] * 30 + ["drop"] * 5 + ["whole"] * 5 + ["rows"] * 10
    cases = []
    for i, kind in enumerate(kinds):
        folder = root / f"lean-{i:03d}-{kind}"
        shutil.copytree(lean_bundle, folder)
        mutate_lean(folder, kind, rng)
        resign(folder)
        cases.append(folder)
    return cases


def make_cases(tiny_bundle: Path, root: Path, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    indexed = root / "base"  # with its index files, as bundles made before format 3 ship them
    shutil.copytree(tiny_bundle, indexed)
    reindex(indexed)
    tiny_bundle = indexed
    plans = list(json_mutations(rng, 200))
    plans += [(f"{name}:{kind}", name, kind) for name in BINARY_FILES
              for kind in ("truncate", "flip", "flip", "replace", "empty", "grow") for _ in range(4)]
    plans += [(f"{name}:header", name, "header") for name in BINARY_FILES[:2] for _ in range(20)]
    cases = []
    for i, (label, name, kind) in enumerate(plans):
        folder = root / f"{i:03d}-{label.replace(':', '-')}"
        shutil.copytree(tiny_bundle, folder)
        if name in JSON_FILES:
            mutate_json(folder, name, kind, rng)
        elif kind == "header":
            mutate_header(folder / name, rng)
        else:
            mutate_binary(folder / name, kind, rng)
        resign(folder)
        cases.append(folder)
    return cases


def run_cases(cases: list[Path], timeout: float = 60.0) -> dict[str, tuple[str, str]]:
    """Feed cases to worker processes; a worker that dies or hangs is replaced and its case recorded."""
    results: dict[str, tuple[str, str]] = {}
    pending = [str(c) for c in cases]
    while pending:
        proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        proc.stdin.write("\n".join(pending) + "\n")
        proc.stdin.close()
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)],
                         daemon=True).start()
        current = None
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                proc.kill()
                results[current or pending[0]] = ("hang", f"no answer in {timeout:.0f}s")
                break
            if line is None:
                rc = proc.wait()
                if current is not None:  # died inside a case
                    results[current] = ("signal" if rc < 0 else "died", f"exit code {rc}")
                break
            message = json.loads(line)
            if message.get("started"):
                current = message["case"]
            else:
                results[message["case"]] = (message["outcome"], message["detail"])
                current = None
        proc.wait()
        pending = [c for c in pending if c not in results]
    return results


@pytest.fixture
def lean_bundle(lean_digits):
    """The shared tiny lean bundle: its images are read from the store and verified."""
    out, _ = lean_digits
    assert "images" in json.loads((out / "config.json").read_text())
    return out


def test_hundreds_of_hostile_bundles_never_crash_hang_or_trace(tiny_bundle, lean_bundle, tmp_path):
    cases = make_cases(tiny_bundle, tmp_path) + make_lean_cases(lean_bundle, tmp_path)
    results = run_cases(cases)
    outcomes = [outcome for outcome, _ in results.values()]
    bad = {Path(case).name: result for case, result in results.items() if result[0] not in ("ok", "error")}
    print(f"{len(cases)} fuzz cases: {outcomes.count('ok')} loaded and answered, {outcomes.count('error')} refused "
          f"with one line")
    assert not bad, bad
    assert len(results) == len(cases) >= 350
    lean_outcomes = [outcome for case, (outcome, _) in results.items() if Path(case).name.startswith("lean-")]
    assert lean_outcomes.count("error") > len(lean_outcomes) // 2  # a damaged image record is refused
    assert outcomes.count("error") > len(cases) // 3  # most mutations are caught, not silently accepted


def test_the_harness_sees_a_crash_and_a_hang(tmp_path, monkeypatch):
    """The fuzz test can fail: a worker killed by a signal, or one that stops answering, is reported."""
    worker = tmp_path / "worker.py"
    worker.write_text("import json, os, signal, sys, time\n"
                      "for line in sys.stdin:\n"
                      "    case = line.strip()\n"
                      "    print(json.dumps({'case': case, 'started': True}), flush=True)\n"
                      "    if case.endswith('crash'): os.kill(os.getpid(), signal.SIGSEGV)\n"
                      "    if case.endswith('hang'): time.sleep(60)\n"
                      "    print(json.dumps({'case': case, 'outcome': 'ok', 'detail': ''}), flush=True)\n")
    monkeypatch.setattr(sys.modules[__name__], "WORKER", worker)
    results = run_cases([Path("a"), Path("b-crash"), Path("c"), Path("d-hang"), Path("e")], timeout=3)
    assert results["b-crash"][0] == "signal" and results["d-hang"][0] == "hang"
    assert [results[c][0] for c in "ace"] == ["ok"] * 3

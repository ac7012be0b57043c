"""The CLI end to end on tiny data, in a subprocess as a user runs it."""
import json
import signal
import subprocess
import sys
import time

from PIL import Image

TINY = ["--dataset", "digits", "--encoder", "mlp", "--max-train", "300", "--holdout", "100", "--hidden", "32", "--code-dim", "4",
        "--batch-size", "64"]


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "acn_core", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_train_evaluate_daydream(tmp_path):
    out = tmp_path / "model"
    proc = run("train", *TINY, "--epochs", "2", "--out", str(out))
    assert "epoch   2/2" in proc.stdout and "saved" in proc.stdout
    assert not (tmp_path / "model.run").exists()  # checkpoints are removed once the bundle is saved
    metrics = json.loads(run("evaluate", str(out), "--json").stdout)
    for key in ("recon_nats", "kl_acn_nats", "kl_standard_nats", "total_nats", "code_knn_accuracy",
                "pixel_knn_accuracy"):
        assert isinstance(metrics[key], float), key
    png = tmp_path / "dream.png"
    proc = run("daydream", str(out), "--start", "3", "--steps", "5", "--out", str(png))
    assert "6 frames" in proc.stdout
    assert Image.open(png).size[0] > 6 * 16


def test_bad_input_gives_one_clear_line(tmp_path):
    proc = run("train", "--dataset", "mnist", "--root", str(tmp_path), "--out", str(tmp_path / "m"), check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: dataset 'mnist' not found")
    assert "Traceback" not in proc.stderr
    proc = run("evaluate", str(tmp_path), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "config.json is missing" in proc.stderr
    proc = run("daydream", str(tmp_path), "--out", "x.png", check=False)
    assert proc.returncode == 1


def test_a_killed_training_process_resumes(tmp_path):  # row 17
    out = tmp_path / "model"
    args = [sys.executable, "-m", "acn_core", "train", *TINY, "--epochs", "30", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp_path / "model.run" / "checkpoint.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["epochs_done"] >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epochs_done"]
    assert 2 <= done < 30
    result = run("train", *TINY, "--epochs", "30", "--out", str(out))
    assert f"resumed from the checkpoint after epoch {done}" in result.stdout
    assert out.is_dir()

"""Distributed training is the same exact ACN: 2 processes with 64 images each per step pick exactly the
neighbours 1 process picks with 128, step by step, and end with the same weights (within float tolerance)."""
import socket
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

WORKER = Path(__file__).with_name("dist_worker.py")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_exactly_like_one(tmp_path):
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    subprocess.run([sys.executable, str(WORKER), str(one)], check=True, timeout=300)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                           "--master-addr", "127.0.0.1", "--master-port", str(_port()), str(WORKER), str(two)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_file(str(one)), load_file(str(two))
    assert a["processes"].item() == 1 and b["processes"].item() == 2
    steps = sorted(int(k.split(".")[1]) for k in a if k.startswith("picks."))
    assert len(steps) == 12 and steps == sorted(int(k.split(".")[1]) for k in b if k.startswith("picks."))
    for step in steps:  # the same neighbours, step by step (the whole 128-image batch each time)
        assert torch.equal(a[f"picks.{step}"], b[f"picks.{step}"]), f"step {step} picked other neighbours"
    for name in (k for k in a if k.startswith("model.")):
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=f"{name} differs")
    torch.testing.assert_close(a["table"], b["table"], rtol=1e-4, atol=1e-5)

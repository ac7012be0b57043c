"""Background training jobs: one subprocess each, with its own folder, thread count and RNG.

A job survives page changes, reloads and even a restart of the app; it can be cancelled (it stops
at the next step, keeping its last epoch's checkpoint) and resumed. Layout under `home`:

    models/<name>/            the finished bundle
    jobs/<name>/job.json      command and pid
    jobs/<name>/progress.jsonl, log.txt, status.json (written when the process ends), run/ (checkpoints)

Run a job's process with `python -m acn_core.jobs JOB_DIR`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .storage import write_json_atomic

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


@dataclass
class JobStatus:
    name: str
    state: str  # running | done | failed | cancelled | stopped (process gone without a status: resumable)
    message: str = ""
    progress: dict = field(default_factory=dict)  # last progress line
    epochs: list[dict] = field(default_factory=list)  # one line per finished epoch
    log_tail: str = ""
    started: float = 0.0

    @property
    def active(self) -> bool:
        return self.state == "running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a finished child not yet reaped is a zombie: not alive
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise ValueError(f"model name {name!r} is not allowed: use 1-40 letters, digits, '-' or '_', "
                         f"starting with a letter or digit")
    return name


def start(home: Path, name: str, train_args: list[str], threads: int = 1) -> Path:
    """Start training `name` in the background; returns the job folder.

    Refuses a name whose model exists or whose job is running (so a reload never starts a duplicate).
    """
    home = Path(home)
    check_name(name)
    out = home / "models" / name
    if out.exists():
        raise ValueError(f"a model named {name!r} already exists; choose another name")
    job_dir = home / "jobs" / name
    if job_dir.exists():
        status = read_status(job_dir)
        if status.active:
            raise ValueError(f"a training job named {name!r} is already running")
        if status.state in ("stopped", "cancelled"):
            raise ValueError(f"a stopped job named {name!r} exists: resume it, or delete it first")
        _remove(job_dir)
    job_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "acn_core", "train", *train_args, "--threads", str(threads),
               "--out", str(out), "--run-dir", str(job_dir / "run"), "--progress-file",
               str(job_dir / "progress.jsonl"), "--stop-file", str(job_dir / "stop"), "--quiet"]
    write_json_atomic(job_dir / "job.json", {"name": name, "command": command, "started": time.time(), "pid": 0})
    _launch(job_dir)
    return job_dir


def _launch(job_dir: Path) -> None:
    (job_dir / "stop").unlink(missing_ok=True)
    (job_dir / "status.json").unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(job_dir / "log.txt", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "acn_core.jobs", str(job_dir)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    meta = json.loads((job_dir / "job.json").read_text())
    meta["pid"] = proc.pid
    write_json_atomic(job_dir / "job.json", meta)


def resume(home: Path, name: str) -> None:
    """Restart a stopped or cancelled job; it continues from its last checkpoint."""
    job_dir = Path(home) / "jobs" / check_name(name)
    status = read_status(job_dir)
    if status.state not in ("stopped", "cancelled", "failed"):
        raise ValueError(f"job {name!r} is {status.state}; only a stopped, cancelled or failed job can be resumed")
    _launch(job_dir)


def cancel(home: Path, name: str) -> None:
    """Ask a running job to stop at its next step; its last epoch's checkpoint is kept."""
    job_dir = Path(home) / "jobs" / check_name(name)
    if job_dir.is_dir():
        (job_dir / "stop").touch()


def delete(home: Path, name: str) -> None:
    """Forget a job that is not running (its finished model, if any, stays)."""
    job_dir = Path(home) / "jobs" / check_name(name)
    if read_status(job_dir).active:
        raise ValueError(f"job {name!r} is running; cancel it first")
    _remove(job_dir)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def read_status(job_dir: Path) -> JobStatus:
    """The state of one job, from its files (safe to call from any process at any time)."""
    meta = _read_json(job_dir / "job.json")
    status = JobStatus(name=job_dir.name, state="stopped", started=meta.get("started", 0.0))
    lines = []
    try:
        for line in (job_dir / "progress.jsonl").read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line being written right now
    except OSError:
        pass
    status.progress = lines[-1] if lines else {}
    epochs = {}
    for line in lines:
        if line.get("kind") == "epoch":
            epochs[line["epoch"]] = line  # a resumed run repeats no epoch, but keep the latest
    status.epochs = [epochs[e] for e in sorted(epochs)]
    try:
        status.log_tail = (job_dir / "log.txt").read_text(errors="replace")[-2000:]
    except OSError:
        pass
    final = _read_json(job_dir / "status.json")
    if final:
        status.state, status.message = final.get("state", "failed"), final.get("message", "")
    elif meta.get("pid") and _alive(int(meta["pid"])):
        status.state = "running"
    else:
        status.message = "the training process ended without finishing (killed?); resume it from its checkpoint"
    return status


def list_jobs(home: Path) -> list[JobStatus]:
    jobs_dir = Path(home) / "jobs"
    if not jobs_dir.is_dir():
        return []
    found = [read_status(d) for d in jobs_dir.iterdir() if d.is_dir() and (d / "job.json").exists()]
    return sorted(found, key=lambda s: -s.started)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def run_job(job_dir: Path) -> int:
    """The body of a job process: run the CLI command and record how it ended."""
    from .cli import main

    meta = json.loads((job_dir / "job.json").read_text())
    command = meta["command"][3:]  # drop "python -m acn_core"
    try:
        code = main(command)
    except BaseException as err:  # record any crash for the app, then re-raise
        write_json_atomic(job_dir / "status.json", {"state": "failed", "message": f"{type(err).__name__}: {err}"})
        raise
    sys.stdout.flush()
    sys.stderr.flush()
    log = (job_dir / "log.txt").read_text(errors="replace").strip().splitlines()
    last = log[-1] if log else ""
    if code == 0:
        state, message = "done", "finished; the model is in the model list"
    elif (job_dir / "stop").exists():
        state, message = "cancelled", "cancelled; resume continues from the last finished epoch"
    else:
        state, message = "failed", last.removeprefix("error: ")
    write_json_atomic(job_dir / "status.json", {"state": state, "message": message})
    return code


if __name__ == "__main__":
    raise SystemExit(run_job(Path(sys.argv[1])))

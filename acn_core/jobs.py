"""Background training jobs: one process each, with its own folder, threads and seeds.

A job survives page changes, reloads and a restart of the app; it can be cancelled (it stops at the next
step, keeping its last epoch's checkpoint), resumed and deleted. Layout under `home`:

    models/<name>/            the finished bundle
    jobs/<name>/job.json      the RunConfig and when the job was started
    jobs/<name>/running.lock  held (flock) by the job's process for as long as it lives
    jobs/<name>/progress.jsonl, log.txt, status.json (written when the process ends), live-map.safetensors,
                run/ (checkpoints)
    locks/<name>.lock         taken while anyone starts, resumes, cancels, deletes or imports under that name

A process is running exactly when it holds its lock: the kernel releases the lock when the process dies,
so a stale pid or a reused one can never make a dead job look alive. The parent takes the lock before
the child starts and hands it over, so two tabs pressing Resume cannot start two processes.
Run a job's process with `python -m acn_core.jobs JOB_DIR LOCK_FD`.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig
from .names import check_name, name_lock, name_taken
from .storage import write_json_atomic
from .training.progress import Progress, ProgressPrinter

DEFAULT_MAX_JOBS = 2
LIVE_MAP = "live-map.safetensors"


class JobError(ValueError):
    """A job action that cannot be done now; the message says why and what to do."""


@dataclass
class JobStatus:
    name: str
    state: str  # running | done | failed | cancelled | stopped (process gone without a status) | damaged
    message: str = ""
    progress: Progress | None = None  # the last progress line
    epochs: list[Progress] = field(default_factory=list)  # one per finished epoch
    log_tail: str = ""
    started: float = 0.0

    @property
    def active(self) -> bool:
        return self.state == "running"


def _is_running(job_dir: Path) -> bool:
    """True while some process holds the job's running lock."""
    try:
        with open(job_dir / "running.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def max_jobs() -> int:
    try:
        return max(1, int(os.environ.get("ACN_MAX_JOBS", DEFAULT_MAX_JOBS)))
    except ValueError:
        return DEFAULT_MAX_JOBS


def _check_capacity(home: Path) -> None:
    running = [s.name for s in list_jobs(home) if s.active]
    if len(running) >= max_jobs():
        raise JobError(f"{len(running)} training jobs are running ({', '.join(running)}), the most this server "
                       f"allows (ACN_MAX_JOBS={max_jobs()}); wait for one to finish or cancel one")


def start(home: Path, name: str, config: RunConfig, threads: int = 1) -> Path:
    """Start training `config` as `name` in the background; returns the job folder. Refuses a name that a
    model, an upload or another job already has (so a reload never starts a duplicate)."""
    home = Path(home)
    config.validate()
    with name_lock(home, name):
        if name_taken(home, name):
            raise JobError(f"the name {name!r} is taken by a model or a job; choose another name")
        _check_capacity(home)
        job_dir = home / "jobs" / name
        job_dir.mkdir(parents=True)
        write_json_atomic(job_dir / "job.json", {"name": name, "config": config.to_dict(), "threads": threads,
                                                 "started": time.time()})
        _launch(job_dir)
    return job_dir


def _launch(job_dir: Path) -> None:
    """Take the job's running lock, then start its process holding it (no moment without an owner)."""
    handle = open(job_dir / "running.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise JobError(f"job {job_dir.name!r} is already running") from None
    try:
        (job_dir / "stop").unlink(missing_ok=True)
        (job_dir / "status.json").unlink(missing_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with open(job_dir / "log.txt", "ab") as log:
            subprocess.Popen([sys.executable, "-m", "acn_core.jobs", str(job_dir), str(handle.fileno())], stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                             pass_fds=(handle.fileno(),))
    finally:
        handle.close()  # the child's copy of the descriptor keeps the lock


def resume(home: Path, name: str) -> None:
    """Restart a stopped, cancelled or failed job; it continues from its last checkpoint."""
    with name_lock(home, name):
        job_dir = Path(home) / "jobs" / check_name(name)
        status = read_status(job_dir)
        if status.state not in ("stopped", "cancelled", "failed"):
            raise JobError(f"job {name!r} is {status.state}; only a stopped, cancelled or failed job can be resumed")
        _check_capacity(home)
        _launch(job_dir)


def cancel(home: Path, name: str) -> None:
    """Ask a running job to stop at its next step; its last epoch's checkpoint is kept."""
    with name_lock(home, name):
        job_dir = Path(home) / "jobs" / check_name(name)
        if job_dir.is_dir():
            (job_dir / "stop").touch()


def delete(home: Path, name: str) -> None:
    """Forget a job that is not running, with its checkpoints (its finished model, if any, stays)."""
    with name_lock(home, name):
        job_dir = Path(home) / "jobs" / check_name(name)
        if _is_running(job_dir):
            raise JobError(f"job {name!r} is running; cancel it first")
        shutil.rmtree(job_dir, ignore_errors=True)


def read_status(job_dir: Path) -> JobStatus:
    """The state of one job, from its files (safe to call from any process at any time, never raises)."""
    status = JobStatus(name=job_dir.name, state="stopped")
    try:
        meta = json.loads((job_dir / "job.json").read_text())
        RunConfig.from_dict(meta["config"])
        status.started = float(meta["started"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        status.state, status.message = "damaged", f"its job.json cannot be read ({type(err).__name__}); delete it"
        return status
    lines = []
    with contextlib.suppress(OSError):
        for line in (job_dir / "progress.jsonl").read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                lines.append(Progress.from_json(line))  # a line being written right now is skipped
    status.progress = lines[-1] if lines else None
    epochs = {p.epoch: p for p in lines if p.kind == "epoch"}  # a resumed run repeats no epoch: keep the latest
    status.epochs = [epochs[e] for e in sorted(epochs)]
    with contextlib.suppress(OSError):
        status.log_tail = (job_dir / "log.txt").read_text(errors="replace")[-2000:]
    final = {}
    with contextlib.suppress(OSError, ValueError):
        final = json.loads((job_dir / "status.json").read_text())
    if _is_running(job_dir):
        status.state = "running"
    elif isinstance(final, dict) and final.get("state") in ("done", "failed", "cancelled"):
        status.state, status.message = final["state"], str(final.get("message", ""))
    else:
        status.message = "the training process ended without finishing (killed?); resume it from its checkpoint"
    return status


def list_jobs(home: Path) -> list[JobStatus]:
    jobs_dir = Path(home) / "jobs"
    if not jobs_dir.is_dir():
        return []
    found = [read_status(d) for d in jobs_dir.iterdir() if d.is_dir() and not d.is_symlink()]
    return sorted(found, key=lambda s: -s.started)


def run_job(job_dir: Path) -> int:
    """The body of a job process: train from job.json and record how it ended in status.json."""
    from .bundle.build import train_bundle
    from .runtime import configure
    from .training.loop import TrainingCancelled

    meta = json.loads((job_dir / "job.json").read_text())
    configure(int(meta.get("threads", 1)))
    out = job_dir.parent.parent / "models" / job_dir.name
    stop = job_dir / "stop"
    try:
        train_bundle(RunConfig.from_dict(meta["config"]), out, job_dir / "run",
                     (ProgressPrinter(quiet=True, progress_file=job_dir / "progress.jsonl"),),
                     should_stop=stop.exists, on_snapshot=LiveMap(job_dir))
        state, message = "done", "finished; the model is in the model list"
    except TrainingCancelled:
        state, message = "cancelled", "cancelled; resume continues from the last finished epoch"
    except BaseException as err:  # record any failure for the app; the log has the details
        state, message = "failed", f"{type(err).__name__}: {err}"
    print(message, flush=True)
    write_json_atomic(job_dir / "status.json", {"state": state, "message": message})
    return 0 if state == "done" else 1


class LiveMap:
    """Writes the map of the latest code-table snapshot for the Train page (at most every
    `every` seconds, so mapping never takes much of a job's time), aligned with the previous frame."""

    def __init__(self, job_dir: Path, every: float = 45.0):
        self.path, self.every, self.last = job_dir / LIVE_MAP, every, -float("inf")

    def __call__(self, epoch: int, codes, labels) -> None:
        import torch

        from .bundle.projection import fit_map
        from .storage import read_tensors, tensors_to_bytes, write_bytes_atomic

        if time.monotonic() - self.last < self.every:
            return
        init = None
        with contextlib.suppress(Exception):  # no previous frame (or an unreadable one): start afresh
            init = read_tensors(self.path)["map"].numpy()
        if init is not None and init.shape[0] == codes.shape[0]:
            init = (init - init.mean(0)) / (init.std(0) + 1e-6) * 3
        else:
            init = None
        xy, _ = fit_map(codes.float(), init=init, n_epochs=60 if init is not None else None)
        write_bytes_atomic(self.path, tensors_to_bytes({"map": torch.from_numpy(xy), "labels": labels,
                                                        "epoch": torch.tensor([epoch])}))
        self.last = time.monotonic()


if __name__ == "__main__":
    _lock_fd = int(sys.argv[2])  # inherited and kept open: holding it is what "running" means
    raise SystemExit(run_job(Path(sys.argv[1])))

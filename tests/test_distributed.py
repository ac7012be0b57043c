"""What the distributed trainer guarantees in float arithmetic, tested as stated (docs/scaling.md, "Many
processes"), on whichever kernels this process and its workers run (ATEN_CPU_CAPABILITY reaches them all).

1. The search is exact. Given the same table, used marks, gathered batch and neighbour RNG, 2 processes (each
   searching its slice of the table, the lists merged) return bit for bit the candidate lists, picks and
   neighbour codes of 1 process: every score that decides is `knn.pair_scores`, computed pair by pair in one
   fixed order, so its bits do not depend on how the table or the batch is cut (a matrix product's do).
2. Training is the same computation up to the order of float32 sums: 2 processes of 64 images reduce the
   gradient from two halves, 1 process of 128 in one go. So a 2-process run
   - picks at every step what the single-process search picks on that run's own inputs (1, replayed);
   - until the first step whose picks differ, shares the data order, the used marks and the neighbour RNG
     with the 1-process run bit for bit, and its weights and codes agree within ROUNDING;
   - may first pick differently only at a step where the 1-process search met a near-tie that the runs'
     difference in scores can flip (two rows closer than twice the largest score difference);
   - after that step draws other neighbours (the shared RNG is consumed by conflict rounds, so all later
     picks may differ: no bound on differing picks is claimed), and its weights stay within what Adam's
     bounded steps allow.
"""
import math
import socket
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from acn_core.knn import pair_scores
from acn_core.training.codes import CodeTable, canonical

WORKER = Path(__file__).with_name("dist_worker.py")
STEPS = 12  # dist_worker.TRAIN_STEPS
# Weights and codes of the two runs while their picks agree: at most 2^-10 apart, relative (weights: to the
# distance travelled from the start; codes: to the largest code). Float32 rounds each operation by 2^-24 and a
# sum of the 128 images' terms by at most 128 * 2^-24 = 2^-17 of its terms' size; 2^-10 leaves 2^7 for
# cancellation in the sums and growth over the steps (measured: 2^-21 for weights, 2^-22 for codes). A mistake
# moves weights by a share of every Adam step: noise keyed by position, or gradients not all-reduced, put them
# 2^-1 apart at the first step.
ROUNDING = 2.0 ** -10


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path: Path, mode: str, processes: int) -> dict[str, torch.Tensor]:
    """dist_worker.py in `mode` with 1 process, or under torchrun with more; what rank 0 wrote."""
    out = tmp_path / f"{mode}-{processes}.safetensors"
    launch = [] if processes == 1 else ["-m", "torch.distributed.run", "--nproc-per-node", str(processes),
                                        "--master-addr", "127.0.0.1", "--master-port", str(_port())]
    proc = subprocess.run([sys.executable, *launch, str(WORKER), mode, str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_file(str(out))
    assert run["processes"].item() == processes
    here = torch.backends.cpu.get_cpu_capability()
    for rank in range(processes):  # every worker ran this process's kernels
        assert bytes(run[f"capability.{rank}"].tolist()).rstrip(b"\0").decode() == here
    return run


def _order(codes: torch.Tensor, table: torch.Tensor, table_sq: torch.Tensor, used: torch.Tensor,
           indices: torch.Tensor, unique: bool, allow_self: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: every code's pair_scores against the whole table (-inf where not eligible), and the
    table's rows in canonical order (score, then row)."""
    scores = pair_scores(codes, table.expand(len(codes), -1, -1), table_sq.expand(len(codes), -1))
    if unique:
        scores = scores.masked_fill(used, -float("inf"))
    if not allow_self:
        scores[torch.arange(len(codes)), indices] = -float("inf")
    return scores, canonical(scores, torch.arange(len(table)).expand(len(codes), -1))[1]


def test_distributed_search_is_bit_for_bit_the_single_process_search(tmp_path):
    run = _run(tmp_path, "search", 2)
    exact_ties = near_ties = deeper = new_passes = 0
    for name in sorted(key[:-len(".table")] for key in run if key.endswith(".table")):
        table, codes, indices, used = (run[f"{name}.{part}"] for part in ("table", "codes", "indices", "used"))
        unique, allow_self = run[f"{name}.rules"].tolist()
        scores, order = _order(codes, table, (table * table).sum(1), used, indices, unique, allow_self)
        ranked = scores.gather(1, order)
        for key in sorted(key[:-len(".picks.one")] for key in run if key.startswith(f"{name}.k")
                          and key.endswith(".picks.one")):
            depth = int(key.rsplit(".k", 1)[1]) + 8
            eligible = run[f"{key}.eligible.one"]
            assert torch.equal(run[f"{key}.eligible.two"], eligible), f"{key}: other eligible entries"
            assert torch.equal(run[f"{key}.ids.two"][eligible], run[f"{key}.ids.one"][eligible]), \
                f"{key}: other candidate lists"
            assert torch.equal(run[f"{key}.picks.two"], run[f"{key}.picks.one"]), f"{key}: other picks"
            assert torch.equal(run[f"{key}.used.two"], run[f"{key}.used.one"]), f"{key}: other used marks"
            assert torch.equal(run[f"{key}.codes.two"], run[f"{key}.codes.one"]), f"{key}: other neighbour codes"
            # and the lists are the right ones: the first `depth` rows of the reference order
            assert torch.equal(eligible, torch.isfinite(ranked[:, :depth])), f"{key}: wrong eligible entries"
            assert torch.equal(run[f"{key}.ids.one"][eligible], order[:, :depth][eligible]), f"{key}: wrong lists"
            deeper += run[f"{key}.searches"].item() > 1
            new_passes += run[f"{key}.passes"].item() > 0
        # what the planted ties made: neighbouring scores in the lists equal, or a few units in the last place apart
        top = ranked[:, :20]
        gaps = (top[:, :-1] - top[:, 1:])[torch.isfinite(top[:, 1:])]
        exact_ties += (gaps == 0).sum().item()
        near_ties += ((gaps > 0) & (gaps <= 4 * torch.finfo(torch.float32).eps * top.abs().max())).sum().item()
    assert exact_ties > 0 and near_ties > 0, (exact_ties, near_ties)
    assert deeper > 0 and new_passes > 0, (deeper, new_passes)  # the picker's deeper searches and a new pass ran


def _replay(run: dict[str, torch.Tensor], step: int) -> torch.Tensor:
    """The single-process picker on a run's recorded inputs of one step."""
    table = CodeTable(2, run[f"table.{step}"].shape[1], torch.Generator())
    table.codes, table.codes_sq = run[f"table.{step}"].clone(), run[f"table_sq.{step}"].clone()
    table.used = run[f"used.{step}"].clone()
    generator = torch.Generator()
    generator.set_state(run[f"rng.{step}"])
    unique, allow_self = run["rules"].tolist()
    return table.pick_neighbours(run[f"codes.{step}"], run[f"indices.{step}"], run["k"].item(), generator, unique,
                                 allow_self)


def _step_bound(betas: torch.Tensor, t: int) -> float:
    """A bound on |m^ / (sqrt(v^) + eps)| after Adam's t-th step, whatever the gradients (Cauchy-Schwarz on
    m_t = (1 - b1) sum b1^(t-i) g_i against v_t = (1 - b2) sum b2^(t-i) g_i^2): 1 at t = 1, 1.06 at t = 12."""
    b1, b2 = betas.tolist()
    return ((1 - b1) / (1 - b1 ** t) * math.sqrt((1 - b2 ** t) / (1 - b2))
            * math.sqrt(sum((b1 * b1 / b2) ** j for j in range(t))))


def test_two_processes_train_like_one_up_to_float_rounding(tmp_path):
    one, two = _run(tmp_path, "train", 1), _run(tmp_path, "train", 2)
    for run in (one, two):  # 1: the search is exact along a real run, near-ties and all
        for step in range(STEPS):
            assert torch.equal(_replay(run, step), run[f"picks.{step}"]), f"step {step}: not the search's picks"
    start = one["weights.init"]
    assert torch.equal(start, two["weights.init"])
    first = next((s for s in range(STEPS) if not torch.equal(one[f"picks.{s}"], two[f"picks.{s}"])), STEPS)
    for step in range(min(first + 1, STEPS)):  # the searches' inputs until the first other pick: rounding apart
        for part in ("indices", "used", "rng"):
            assert torch.equal(one[f"{part}.{step}"], two[f"{part}.{step}"]), f"step {step}: other {part}"
        for part in ("codes", "table"):
            a, b = one[f"{part}.{step}"], two[f"{part}.{step}"]
            assert (a - b).abs().max() <= ROUNDING * a.abs().max(), f"step {step}: {part} differ"
    apart = []  # the weights' distance, relative to the distance travelled
    for step in range(first):
        a, b = one[f"weights.{step}"], two[f"weights.{step}"]
        apart.append(((a - b).norm() / (a - start).norm()).item())
        assert apart[-1] <= ROUNDING, f"step {step}: weights differ"
    end = (one[f"weights.{STEPS - 1}"] - two[f"weights.{STEPS - 1}"]).abs().max().item()
    print(f"\n{torch.backends.cpu.get_cpu_capability()}: first other pick at step {first} of {STEPS} (0-based); "
          f"weights {max(apart, default=0):.1e} apart before it (relative), {end:.1e} at the end (largest)")
    if first == STEPS:
        return
    # the first other pick needs a near-tie: the single-process order of the table differs between the runs'
    # inputs, and where it first does, the two rows scored within twice the largest score difference
    unique, allow_self = one["rules"].tolist()
    (a, order_a), (b, order_b) = ((_order(run[f"codes.{first}"], run[f"table.{first}"], run[f"table_sq.{first}"],
                                          run[f"used.{first}"], run[f"indices.{first}"], unique, allow_self))
                                  for run in (one, two))
    scores_apart = (a - b)[torch.isfinite(a)].abs().max().item()
    moved = (order_a != order_b) & torch.isfinite(a.gather(1, order_a))
    assert moved.any(), f"step {first}: other picks, yet every code's order of the table is the same"
    for code in moved.any(1).nonzero()[:, 0].tolist():
        at = moved[code].nonzero()[0, 0].item()
        gap = (a[code, order_a[code, at]] - a[code, order_b[code, at]]).item()
        assert 0 <= gap <= 2 * scores_apart, f"step {first}: code {code}'s rows {gap} apart: no near-tie"
    # after it, other neighbours: a step moves a weight by at most lr * _step_bound in either run (and its rounding)
    allowed = (one[f"weights.{first - 1}"] - two[f"weights.{first - 1}"]).abs().max().item() if first else 0.0
    largest = max(one[f"weights.{STEPS - 1}"].abs().max().item(), start.abs().max().item()) + 1
    for step in range(first, STEPS):
        allowed += 2 * _step_bound(one["betas"], step + 1) * one[f"lr.{step}"].item() + 2 ** -20 * largest
        a, b = one[f"weights.{step}"], two[f"weights.{step}"]
        assert (a - b).abs().max() <= allowed, f"step {step}: weights differ by more than Adam's steps allow"

"""One process of the distributed tests (run by torchrun, or alone). Rank 0 writes OUT.

`train OUT`: trains tiny data and writes, for every step, the neighbour search's inputs (the table and its
used marks before the step, the gathered batch's codes and indices, the neighbour RNG's state), the picks,
and the weights after the step.
`search OUT`: the distributed search and the single-process search on fixed codes (planted near-ties and
exact ties), side by side.
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]  # conftest, and what it imports
from acn_core.model.acn import ACN  # noqa: E402
from acn_core.runtime import configure  # noqa: E402
from acn_core.training.codes import CodeTable  # noqa: E402
from acn_core.training.distributed import DistributedCodeTable, from_environment  # noqa: E402
from acn_core.training.loop import Trainer, train  # noqa: E402
from conftest import make_data, tiny_config  # noqa: E402

TRAIN_STEPS = 12  # 512 images, batch 128, 3 epochs
KERNEL_NAME = 16


def capability() -> torch.Tensor:
    """This process's ATen kernels (`torch.backends.cpu.get_cpu_capability()`, e.g. AVX512, AVX2, DEFAULT) as
    KERNEL_NAME bytes: the test checks that ATEN_CPU_CAPABILITY reached every worker."""
    name = torch.backends.cpu.get_cpu_capability().encode()[:KERNEL_NAME]
    return torch.tensor(list(name.ljust(KERNEL_NAME, b"\0")), dtype=torch.uint8)


def record_training(group) -> dict[str, torch.Tensor]:
    records: dict[str, torch.Tensor] = {}
    original_pick, original_step = CodeTable.pick_neighbours, Trainer.step
    picks_made = []

    def pick(self, codes, indices, k, generator, unique=True, allow_self=False):
        s = len(picks_made)
        records.update({f"table.{s}": self.codes.clone(), f"table_sq.{s}": self.codes_sq.clone(),
                        f"used.{s}": self.used.clone(),
                        f"codes.{s}": codes.detach().clone(), f"indices.{s}": indices.clone(),
                        f"rng.{s}": generator.get_state()})
        chosen = original_pick(self, codes, indices, k, generator, unique, allow_self)
        picks_made.append(chosen)
        records[f"picks.{s}"] = chosen.clone()
        return chosen

    def step(self, *args, **kwargs):
        out = original_step(self, *args, **kwargs)
        s, adam = len(picks_made) - 1, self.optimizer.param_groups[0]
        records[f"weights.{s}"] = torch.cat([p.detach().flatten() for p in self.model.parameters()])
        records[f"lr.{s}"], records["betas"] = torch.tensor([adam["lr"]]), torch.tensor(adam["betas"])
        return out

    CodeTable.pick_neighbours, Trainer.step = pick, step
    config = tiny_config(epochs=3, batch_size=128, seed=5)
    with torch.random.fork_rng(devices=[]):  # the weights as initialised (train seeds the global RNG alike)
        torch.manual_seed(config.train.seed)
        records["weights.init"] = torch.cat([p.detach().flatten() for p in ACN(config.model).parameters()])
    train(config, make_data(n_train=512, n_test=16), group=group)
    assert len(picks_made) == TRAIN_STEPS
    records["k"] = torch.tensor([config.train.k])
    records["rules"] = torch.tensor([config.train.unique_neighbours, config.train.allow_self_neighbour])
    return records


def planted_table(size: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A table and queries full of ties. Queries are table rows or points between them; the table holds
    exact duplicates (some in the other process's slice), rows one unit in the last place apart, and rings
    of rows at one distance from a query (the same distance in exact arithmetic; equal or a few units apart
    in float32, depending on how the product rounds)."""
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(size, dim, generator=g)
    half = size // 2
    table[half:half + 40] = table[:40]  # duplicates across the slices
    table[60:70] = table[5]  # more copies of one code than a candidate list holds
    table[half + 60:half + 70] = table[5]
    nudged = table[80:100].clone()
    nudged[:, 0] = torch.nextafter(nudged[:, 0], torch.full_like(nudged[:, 0], float("inf")))
    table[half + 80:half + 100] = nudged  # one unit in the last place from rows 80..99
    queries = [table[:40], table[80:100], table[5:6].expand(4, dim)]
    centres = torch.randn(24, dim, generator=g)
    for c, centre in enumerate(centres):  # rings: centre + permutations and sign flips of one offset
        offset = torch.randn(dim, generator=g) * 0.3
        for j in range(12):  # half of the ring in each process's slice
            flip = torch.where(torch.rand(dim, generator=g) < 0.5, -1.0, 1.0)
            row = 110 + c * 6 + j % 6 + (half if j >= 6 else 0)
            table[row] = centre + flip * offset[torch.randperm(dim, generator=g)]
        queries.append(centre[None])
    queries.append(torch.randn(200, dim, generator=g))
    return table, torch.cat(queries)


SEARCH_CASES = [  # (name, table rows, dim, queries per process, unique, allow_self, share of rows already used)
    ("small", 517, 4, (64, 64), True, False, 0.0),
    ("uneven", 517, 4, (5, 3), True, False, 0.0),
    ("one", 517, 4, (1, 0), True, False, 0.0),
    ("crowded", 517, 4, (64, 64), True, False, 0.7),  # lists run short: deeper searches
    ("last", 517, 4, (64, 64), True, False, 0.9),  # fewer eligible rows than codes: a new pass
    ("self", 517, 4, (64, 64), False, True, 0.0),
    ("fused", 4137, 16, (64, 64), True, False, 0.3),  # each slice >= FUSED_MIN_ROWS: the fused scan
    ("fused_small", 4137, 16, (3, 7), True, False, 0.0),
]
SEARCH_KS = (1, 3, 12)


def search_cases(group) -> dict[str, torch.Tensor]:
    """Both searches on fixed codes, case by case: the candidate lists, the picks, the used marks after, and
    the neighbour codes each process gets back; the single-process search (rank 0) on the gathered batch.
    Also how often the single-process picker searched and started a pass (the deeper paths ran)."""
    out: dict[str, torch.Tensor] = {}
    searches, passes = [0], [0]
    candidates, start_pass = CodeTable._candidates, CodeTable.start_pass

    def counted_candidates(self, *args, **kwargs):
        searches[0] += type(self) is CodeTable
        return candidates(self, *args, **kwargs)

    def counted_start_pass(self):
        passes[0] += type(self) is CodeTable
        return start_pass(self)

    CodeTable._candidates, CodeTable.start_pass = counted_candidates, counted_start_pass

    def loaded(cls, table, used, *extra):
        t = cls(len(table), table.shape[1], torch.Generator(), *extra)
        t.codes, t.used = table.clone(), used.clone()
        t._derive()
        return t

    for name, size, dim, counts, unique, allow_self, used in SEARCH_CASES:
        table, queries = planted_table(size, dim, seed=len(name))
        g = torch.Generator().manual_seed(size)
        codes = queries[torch.randperm(len(queries), generator=g)[:sum(counts)]]
        indices = torch.randperm(size, generator=g)[:len(codes)]
        used_rows = torch.rand(size, generator=g) < used
        start = sum(counts[:group.rank])
        mine = slice(start, start + counts[group.rank])
        out.update({f"{name}.table": table, f"{name}.codes": codes, f"{name}.indices": indices,
                    f"{name}.used": used_rows, f"{name}.rules": torch.tensor([unique, allow_self])})
        for k in SEARCH_KS:
            key, depth = f"{name}.k{k}", k + 8
            # what a training step calls: this process's codes in, its neighbours' codes out
            two = loaded(DistributedCodeTable, table, used_rows, group)
            got = two.neighbour_codes(codes[mine], indices[mine], k, torch.Generator().manual_seed(k), unique,
                                      allow_self)
            got = group.gather(got, list(counts))
            # the same search, its parts: the merged lists, and the picks on the gathered batch
            two = loaded(DistributedCodeTable, table, used_rows, group)
            ids, eligible = two._candidates(codes, indices, depth, unique, allow_self)
            picked = two.pick_neighbours(codes, indices, k, torch.Generator().manual_seed(k), unique, allow_self)
            if group.main:
                one = loaded(CodeTable, table, used_rows)
                ids1, eligible1 = one._candidates(codes, indices, depth, unique, allow_self)
                searches[0], passes[0] = 0, 0
                picked1 = one.pick_neighbours(codes, indices, k, torch.Generator().manual_seed(k), unique, allow_self)
                out.update({f"{key}.ids.two": ids, f"{key}.ids.one": ids1, f"{key}.eligible.two": eligible,
                            f"{key}.eligible.one": eligible1, f"{key}.picks.two": picked,
                            f"{key}.picks.one": picked1, f"{key}.used.two": two.used, f"{key}.used.one": one.used,
                            f"{key}.codes.two": got, f"{key}.codes.one": table[picked1],
                            f"{key}.searches": torch.tensor([searches[0]]), f"{key}.passes": torch.tensor([passes[0]])})
    CodeTable._candidates, CodeTable.start_pass = candidates, start_pass
    return out


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    configure(1)
    group = from_environment("cpu")
    if mode == "train":
        tensors = record_training(group)
    else:
        assert group is not None, "the search comparison needs torchrun"
        tensors = search_cases(group)
    kernels = [capability()]  # every process's, in rank order
    if group is not None:
        kernels = [torch.zeros(KERNEL_NAME, dtype=torch.uint8) for _ in range(group.size)]
        torch.distributed.all_gather(kernels, capability())
    if group is None or group.main:
        tensors.update({f"capability.{rank}": kernel for rank, kernel in enumerate(kernels)})
        tensors["processes"] = torch.tensor([len(kernels)])
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(out))
    if group is not None:
        group.close()

import pytest
import torch

from acn_core.training.codes import CodeTable
from acn_core.knn import exact_knn


def _table(codes: torch.Tensor) -> CodeTable:
    table = CodeTable(codes.shape[0], codes.shape[1], torch.Generator().manual_seed(0))
    table.update(torch.arange(codes.shape[0]), codes)
    return table


def test_exact_knn_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    queries, table = torch.randn(37, 5, generator=g), torch.randn(300, 5, generator=g)
    dists, ids = exact_knn(queries, table, 7, chunk=10)
    reference = torch.cdist(queries, table).topk(7, largest=False)
    assert torch.equal(ids, reference.indices)
    torch.testing.assert_close(dists, reference.values, atol=1e-4, rtol=1e-4)


def test_an_example_is_never_its_own_neighbour():
    # Far-apart codes: each example's own table entry is by far its nearest, so any leak would show.
    codes = torch.arange(40).float().unsqueeze(1).repeat(1, 3) * 100
    table = _table(codes)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        idx = torch.randperm(40, generator=g)[:16]
        picked = table.pick_neighbours(codes[idx], idx, k=1, generator=g, unique=False)
        assert not (picked == idx).any()
        assert ((picked - idx).abs() == 1).all()  # and it is the true nearest other code


def test_allow_self_reproduces_the_bug_for_the_ablation():
    codes = torch.arange(10).float().unsqueeze(1) * 100
    table = _table(codes)
    idx = torch.arange(10)
    picked = table.pick_neighbours(codes, idx, k=1, generator=torch.Generator(), unique=False, allow_self=True)
    assert torch.equal(picked, idx)


def test_unique_neighbour_rule_uses_each_code_once_per_pass():
    g = torch.Generator().manual_seed(2)
    codes = torch.randn(100, 4, generator=g)
    table = _table(codes)
    table.start_pass()
    order = torch.randperm(100, generator=g)
    used = []
    for batch in order[:90].split(16):  # most of a pass, before the pool can run dry
        picked = table.pick_neighbours(codes[batch], batch, k=5, generator=g, unique=True)
        assert not (picked == batch).any()
        used.append(picked)
    used = torch.cat(used)
    assert len(used) == len(set(used.tolist())), "a code served as neighbour twice in one pass"
    assert table.used.sum() == len(used)


def test_unique_rule_starts_a_new_pass_when_codes_run_out():
    codes = torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
    table = _table(codes)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):  # 30 picks from 6 codes: must keep going, never self
        idx = torch.arange(6)
        picked = table.pick_neighbours(codes, idx, k=5, generator=g, unique=True)
        assert not (picked == idx).any() and (picked >= 0).all()


def test_choice_is_uniform_among_the_k_nearest():
    codes = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [50.0], [60.0]])
    table = _table(codes)
    g = torch.Generator().manual_seed(4)
    query, idx = codes[:1].repeat(5000, 1), torch.zeros(5000, dtype=torch.long)
    picked = table.pick_neighbours(query, idx, k=4, generator=g, unique=False)
    counts = torch.bincount(picked, minlength=7)
    assert counts[0] == 0 and counts[5:].sum() == 0
    assert ((counts[1:5].float() / 5000 - 0.25).abs() < 0.03).all()


def test_code_table_starts_as_unit_gaussian_noise_and_needs_two_entries():
    table = CodeTable(20000, 4, torch.Generator().manual_seed(0))
    assert abs(table.codes.mean()) < 0.02 and abs(table.codes.std() - 1) < 0.02
    with pytest.raises(ValueError, match="at least 2"):
        CodeTable(1, 4, torch.Generator())


def test_k_larger_than_the_table_still_terminates():
    codes = torch.randn(4, 2, generator=torch.Generator().manual_seed(5))
    table = _table(codes)
    for unique, allow_self in ((False, True), (True, False), (False, False)):
        picked = table.pick_neighbours(codes, torch.arange(4), k=50, generator=torch.Generator(), unique=unique,
                                       allow_self=allow_self)
        assert (picked >= 0).all()


@pytest.mark.parametrize("n,k", [(60000, 5), (60000, 13), (5000, 5), (10001, 40), (300, 7)])
def test_blocked_top_k_is_exact(n, k):
    from acn_core.knn import top_k

    g = torch.Generator().manual_seed(n + k)
    scores = torch.randn(64, n, generator=g)
    scores[:3, : n // 2] = -float("inf")  # masked entries, as the unique-neighbour rule makes them
    values, ids = top_k(scores, k)
    reference = torch.topk(scores, k, dim=1)
    assert torch.equal(values, reference.values)
    assert torch.equal(scores.gather(1, ids), values)


def _random_table(n: int, dim: int, seed: int, duplicates: bool) -> CodeTable:
    """Clustered codes like trained ones; with `duplicates`, many rows repeat others exactly (ties)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(8, dim, generator=g) * 4
    codes = centres[torch.randint(8, (n,), generator=g)] + torch.randn(n, dim, generator=g)
    if duplicates:
        copies = torch.randint(n, (n // 3,), generator=g)
        targets = torch.randperm(n, generator=g)[:n // 3]  # distinct: repeated targets of an indexed write
        codes[targets] = codes[copies]  # would be won by whichever thread wrote last
    return _table(codes)


@pytest.mark.parametrize("n,dim,seed", [(3000, 16, 0), (9001, 16, 1), (20000, 8, 2), (4100, 32, 3)])
def test_fused_search_picks_exactly_what_the_plain_search_picks(n, dim, seed):
    from acn_core.training.codes import FUSED_MIN_ROWS

    assert n >= FUSED_MIN_ROWS  # these tables take the fused path
    for duplicates in (False, True):
        table = _random_table(n, dim, seed, duplicates)
        g = torch.Generator().manual_seed(seed + 10)
        table.used[torch.rand(n, generator=g) < 0.4] = True  # masked entries
        for batch in (128, 37, 1):
            idx = torch.randperm(n, generator=g)[:batch]
            queries = table.codes[idx] + 0.01 * torch.randn(batch, dim, generator=g)
            queries[: batch // 4] = table.codes[idx[: batch // 4]]  # exact copies of table rows: ties
            for depth, unique, allow_self in ((11, True, False), (20, False, False), (5, True, True)):
                for start, stop in ((0, n), (n // 3, n)):  # the whole table, and a process's slice
                    fast = table.search(queries, idx, depth, unique, allow_self, start, stop)
                    plain = table.plain_search(queries, idx, depth, unique, allow_self, start, stop)
                    assert torch.equal(fast[0], plain[0])
                    finite = torch.isfinite(plain[0])
                    assert torch.equal(fast[1][finite], plain[1][finite])
                    own = fast[1] == idx[:, None]
                    assert allow_self or not (own & finite).any()
                    assert not unique or not table.used[fast[1][finite]].any()


def test_fused_search_with_a_near_tie_list_whose_rows_lie_past_every_kept_row():
    """A list too close to call (a crowd of equal codes) is answered by the plain search; its rows must not be
    looked up among the other lists' rows (that lookup ran past the end when its rows were the table's last:
    "index 708 is out of bounds for dimension 1 with size 708", epoch 2 of a 60,000-image PixelCNN run)."""
    from acn_core.training.codes import FUSED_EXTRA, FUSED_MIN_ROWS

    g = torch.Generator().manual_seed(0)
    n, crowd, depth = FUSED_MIN_ROWS + 64, FUSED_EXTRA + 20, 5
    codes = torch.randn(n, 16, generator=g)
    codes[n - crowd:] = torch.full((16,), 9.0)  # the table's last rows: one point, far from the rest
    table = _table(codes)
    queries = torch.cat([codes[:8] + 0.01 * torch.randn(8, 16, generator=g), torch.full((1, 16), 9.001)])
    idx = torch.arange(9)
    fast = table.search(queries, idx, depth, unique=False, allow_self=False)
    plain = table.plain_search(queries, idx, depth, unique=False, allow_self=False)
    assert table._blocks is not None  # the fused path answered
    assert torch.equal(fast[0], plain[0]) and torch.equal(fast[1], plain[1])
    assert (fast[1][-1] >= n - crowd).all()


def test_plain_search_keeps_the_lower_rows_among_ties_at_the_edge():
    codes = torch.tensor([[0.0], [5.0], [1.0], [1.0], [1.0], [1.0]])
    table = _table(codes)
    values, ids = table.plain_search(codes[:1], torch.tensor([0]), 3, unique=False, allow_self=False)
    assert ids.tolist() == [[2, 3, 4]]  # four rows tie at distance 1: the lowest three are kept


def test_fused_search_matches_on_the_mlp_like_table_through_a_pass():
    """pick_neighbours through most of a pass: the fused and the plain search pick the same codes."""
    table = _random_table(6000, 16, 7, duplicates=True)
    twin = _random_table(6000, 16, 7, duplicates=True)
    twin.search = twin.plain_search  # the reference: the whole score matrix every time
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    order = torch.randperm(6000, generator=torch.Generator().manual_seed(4))
    for batch in order[:5000].split(128):
        a = table.pick_neighbours(table.codes[batch], batch, 3, g1)
        b = twin.pick_neighbours(twin.codes[batch], batch, 3, g2)
        assert torch.equal(a, b)
    assert torch.equal(table.used, twin.used)


def test_search_inside_a_bf16_forward_pass_is_the_float32_search():
    table = _random_table(5000, 16, 9, duplicates=False)
    idx = torch.arange(64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = table.search(table.codes[idx], idx, 11, True, False)
    assert torch.equal(inside[1], table.plain_search(table.codes[idx], idx, 11, True, False)[1])
    assert table._blocks is not None  # the fused path answered


def test_fused_search_equals_the_plain_search_on_two_threads_too():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        test_fused_search_matches_on_the_mlp_like_table_through_a_pass()
        test_fused_search_picks_exactly_what_the_plain_search_picks(3000, 16, 0)
    finally:
        torch.set_num_threads(threads)

from pathlib import Path

import numpy as np
import pytest
import torch

from acn_core.bundle import format as bundle
from acn_core.knn import exact_knn
from acn_core.bundle.index import CodeIndex

DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "assets" / "default-mnist5k"


def recall_at_10(index: CodeIndex, codes: torch.Tensor) -> float:
    _, exact = exact_knn(codes, codes, 10, exclude=torch.arange(len(codes)))
    hits = sum(len(set(index.query_item(i, 10)[0].tolist()) & set(exact[i].tolist())) for i in range(len(codes)))
    return hits / (10 * len(codes))


def test_recall_on_the_trained_default_codes():
    """The index parameters must find the true neighbours of real trained codes (not random ones)."""
    b = bundle.load(DEFAULT_BUNDLE)
    assert recall_at_10(b.index, b.train_codes) >= 0.99


def test_query_by_vector_and_item_agree_with_exact_search():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(c, 0.3, (100, 8)) for c in range(5)]).astype(np.float32)
    index = CodeIndex.build(codes)
    ids, dists = index.query_vector(codes[7], 4)
    assert ids[0] == 7 and dists[0] == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(dists, np.linalg.norm(codes[ids] - codes[7], axis=1), rtol=1e-4, atol=1e-5)
    ids, _ = index.query_item(7, 4)
    assert 7 not in ids
    with pytest.raises(ValueError, match="dimension 3, the index has 8"):
        index.query_vector(np.zeros(3), 2)
    with pytest.raises(ValueError, match="outside the index"):
        index.query_item(500, 2)


def test_k_is_clamped_to_the_index(tmp_path):  # row 11
    index = CodeIndex.build(np.random.rand(6, 2).astype(np.float32))
    assert len(index.query_item(0, 50)[0]) == 5
    assert len(index.query_vector(np.zeros(2), 0)[0]) == 1
    index.save(tmp_path)
    assert len(CodeIndex.load(tmp_path, index.codes).query_item(1, 3)[0]) == 3

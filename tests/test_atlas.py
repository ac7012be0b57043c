"""The atlas layer and map-versus-code neighbours, checked against independent computations on a tiny bundle."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from acn_core.teaching import atlas
from acn_core.bundle import projection
from acn_core.bundle.format import load
from acn_core.config import ModelConfig
from acn_core.model.acn import ACN


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return load(tiny_bundle)


def test_every_point_lies_in_its_cell_and_the_grid_is_square():
    xy = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32) * [3, 1]
    flat, origin, size, (columns, rows) = projection.grid_cells(xy, 10)
    assert columns == 10 and rows < columns  # square cells: fewer rows on the shorter side
    column, row = flat % columns, flat // columns
    assert np.all(origin[0] + column * size <= xy[:, 0] + 1e-6) and np.all(xy[:, 0] <= origin[0] + (column + 1) * size)
    assert np.all(origin[1] + row * size <= xy[:, 1] + 1e-6) and np.all(xy[:, 1] <= origin[1] + (row + 1) * size)
    with pytest.raises(ValueError, match="cells must be at least 1"):
        projection.grid_cells(xy, 0)


def test_each_cell_decodes_the_mean_code_of_its_points_and_empty_cells_stay_empty(bundle):
    result = atlas.build_atlas(bundle, cells=4)
    assert result.counts.sum() == bundle.n_train and (result.counts > 0).all()
    codes, xy = bundle.train_codes.numpy(), bundle.map_xy
    low = xy.min(0)
    occupied = set()
    for (column, row), centre, count, image in zip(result.cells, result.centres, result.counts, result.images):
        inside = np.all(np.abs(xy - centre) <= result.cell_size / 2 + 1e-6, axis=1)
        assert inside.sum() == count
        expected = bundle.model.decode(torch.from_numpy(codes[inside].mean(0))[None], None, "mean")[0].numpy()
        np.testing.assert_allclose(image, expected, atol=1e-5)
        np.testing.assert_allclose(centre, low + (np.array([column, row]) + 0.5) * result.cell_size, rtol=1e-5)
        occupied.add((int(column), int(row)))
    columns, rows = result.shape
    every = {(c, r) for c in range(columns) for r in range(rows)}
    for column, row in every - occupied:  # the cells left out hold no training point
        centre = low + (np.array([column, row]) + 0.5) * result.cell_size
        assert not np.any(np.all(np.abs(xy - centre) < result.cell_size / 2 - 1e-6, axis=1))
    assert "mean image" in result.decoding


def test_the_atlas_picture_puts_the_highest_row_on_top_and_leaves_empty_cells_clear(bundle):
    result = atlas.build_atlas(bundle, cells=4)
    picture = atlas.atlas_picture(result, pad=0)
    h, w = bundle.dataset.shape[1:]
    columns, rows = result.shape
    assert picture.shape == (rows * h, columns * w, 4) and picture.dtype == np.uint8
    alpha = picture[..., 3].reshape(rows, h, columns, w)[:, 0, :, 0]  # (rows, columns): one pixel per tile
    filled = np.zeros((rows, columns), dtype=bool)
    filled[rows - 1 - result.cells[:, 1], result.cells[:, 0]] = True
    assert np.array_equal(alpha == 255, filled)
    top = int(np.argmax(result.cells[:, 1]))
    column, row = result.cells[top]
    tile = picture[(rows - 1 - row) * h:(rows - row) * h, column * w:(column + 1) * w, 0]
    np.testing.assert_array_equal(tile, (result.images[top, 0] * 255).round().astype(np.uint8))


def test_a_pixelcnn_decoder_takes_the_sampling_path_with_progress():
    config = ModelConfig(encoder="mlp", decoder="pixelcnn", code_dim=4, hidden=16, prior_hidden=16, height=8,
                         width=8, pixelcnn_layers=2, pixelcnn_channels=8).validate()
    fake = SimpleNamespace(model=ACN(config).eval())
    seen = []
    images, decoding = atlas.decode_preview(fake, torch.zeros(3, 4), seed=1, progress=seen.append)
    assert images.shape == (3, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert seen and seen[-1] == 1.0 and "pixel by pixel" in decoding


def test_map_and_code_neighbours_agree_with_brute_force(bundle):
    item, k = 7, 6
    result = atlas.map_vs_code(bundle, k, item=item)
    codes = bundle.train_codes.numpy()
    code_d = np.linalg.norm(codes - codes[item], axis=1)
    map_d = np.linalg.norm(bundle.map_xy - bundle.map_xy[item], axis=1)
    code_d[item] = map_d[item] = np.inf
    assert set(result.code_ids) == set(np.argsort(code_d, kind="stable")[:k])
    np.testing.assert_array_equal(result.map_ids, np.lexsort((np.arange(len(map_d)), map_d))[:k])
    shared = len(set(result.code_ids) & set(result.map_ids))
    assert result.shared == shared and result.k == k and item not in result.map_ids
    assert result.sentence() == f"{shared} of {k} nearest on the map are also nearest in code space"


def test_map_vs_code_of_a_held_out_code_and_a_too_large_k(bundle):
    code, point = bundle.test_codes[0].numpy(), bundle.test_map_xy[0]
    result = atlas.map_vs_code(bundle, 10**6, code=code, point=point)
    assert result.k == bundle.n_train and result.shared == bundle.n_train  # every point is in both
    with pytest.raises(ValueError, match="give a training item"):
        atlas.map_vs_code(bundle, 3)

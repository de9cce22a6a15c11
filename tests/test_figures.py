"""Labelled image grids and zoom crops for the notebooks."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from nst_utils.display.figures import image_grid, zoom_crop


def test_grid_labels_rows_and_columns_and_keeps_aspect_ratio():
    wide = torch.rand(1, 3, 20, 40)
    rows = [[wide, wide, None], [np.zeros((10, 10)), wide, wide]]
    fig = image_grid(
        rows,
        row_labels=["β/α = 1", "β/α = 10"],
        col_labels=["relu1_1", "relu1_1…relu3_1", "relu1_1…relu5_1"],
        captions=[["a", None, None], ["b", "c", "d"]],
        title="sweep",
    )
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes[0]] == ["relu1_1", "relu1_1…relu3_1", "relu1_1…relu5_1"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["β/α = 1", "β/α = 10"]
    assert axes[1, 2].get_xlabel() == "d"
    assert fig._suptitle.get_text() == "sweep"
    assert not axes[0, 2].images  # the empty cell
    shown = axes[0, 0].images[0].get_array()
    assert shown.shape[:2] == (20, 40)
    assert axes[0, 0].get_aspect() == 1.0  # imshow's "equal": no stretching
    plt.close(fig)


def test_grid_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="row labels"):
        image_grid([[torch.rand(1, 3, 4, 4)]], row_labels=["a", "b"])
    with pytest.raises(ValueError, match="column labels"):
        image_grid([[torch.rand(1, 3, 4, 4)]], col_labels=["a", "b"])
    with pytest.raises(ValueError):
        image_grid([])


def test_zoom_crop_uses_fractions():
    image = torch.arange(100.0).reshape(1, 1, 10, 10)
    crop = zoom_crop(image, (0.2, 0.5, 0.3, 0.5))
    assert crop.shape == (1, 1, 3, 5)
    assert crop[0, 0, 0, 0] == 25
    assert zoom_crop(image, (0.95, 0.95, 0.01, 0.01)).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError):
        zoom_crop(image, (1.0, 0.0, 0.5, 0.5))

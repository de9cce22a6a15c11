"""The plotting helpers draw what their arguments say."""

import matplotlib.pyplot as plt
import numpy as np
import torch

from nst_utils.display.plotting import show_gram


def test_show_gram_order_scale_and_colorbar():
    gram = torch.tensor([[4.0, 1.0, 0.0], [1.0, 9.0, 2.0], [0.0, 2.0, 0.0]])
    order = torch.tensor([2, 0, 1])
    fig = show_gram(gram, "free scale", order=order)
    shown = fig.axes[0].images[0]
    assert torch.allclose(torch.tensor(shown.get_array()), torch.log1p(gram[order][:, order]))
    assert shown.get_clim() == (0.0, float(torch.log1p(torch.tensor(9.0))))
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    plt.close(fig)

    fig = show_gram(gram, "shared scale", vmax=5.0, colorbar=False)
    assert fig.axes[0].images[0].get_clim() == (0.0, 5.0)
    assert len(fig.axes) == 1  # the caller draws one colour bar for several heatmaps
    plt.close(fig)


def test_feature_maps_default_to_the_strongest_channels():
    from nst_utils.display.plotting import show_feature_maps

    features = torch.zeros(1, 6, 3, 5)
    features[0, 4] = 3.0
    features[0, 2] = 2.0
    fig = show_feature_maps(features, "relu1_1", k=2, ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["ch 4", "ch 2"]
    assert fig.axes[0].images[0].get_array().shape == (3, 5)
    plt.close(fig)


def test_show_images_takes_tensors_and_arrays_alike():
    from nst_utils.display.plotting import show_images

    tensor = torch.zeros(1, 3, 4, 6)
    tensor[0, 0] = 1.0  # red
    grey = np.full((5, 2), 0.25)
    fig = show_images({"red": tensor, "grey": grey})
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert shown[0].shape == (4, 6, 3) and shown[0][0, 0].tolist() == [1.0, 0.0, 0.0]
    assert shown[1].shape == (5, 2) and fig.axes[1].images[0].get_cmap().name == "gray"
    plt.close(fig)

"""The plotting helpers draw what their arguments say."""

import matplotlib.pyplot as plt
import torch

from nst_utils.plotting import show_gram


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

"""VGG anatomy: shapes and receptive fields worked out by hand, activation statistics."""

import pytest
import torch

from nst_utils.display.anatomy import (
    activation_stats,
    architecture,
    markdown_table,
    receptive_fields,
)
from nst_utils.paper.layers import layer_names
from nst_utils.paper.vgg import VGGFeatures

# By hand: 3×3 convs add 2·jump, 2×2 pools add 1·jump and double the jump.
# block 1 (jump 1): 3, 5, pool 6 | block 2 (jump 2): 10, 14, pool 16 |
# block 3 (jump 4): 24, 32, 40, 48, pool 52 | block 4 (jump 8): 68, 84, 100, 116, pool 124 |
# block 5 (jump 16): 156, 188, 220, 252, pool 268
VGG19_RF = {
    "conv1_1": 3, "conv1_2": 5, "pool1": 6,
    "conv2_1": 10, "conv2_2": 14, "pool2": 16,
    "conv3_1": 24, "conv3_2": 32, "conv3_3": 40, "conv3_4": 48, "pool3": 52,
    "conv4_1": 68, "conv4_2": 84, "conv4_3": 100, "conv4_4": 116, "pool4": 124,
    "conv5_1": 156, "conv5_2": 188, "conv5_3": 220, "conv5_4": 252, "pool5": 268,
}  # fmt: skip
# VGG-16 has 3 convs in blocks 3-5: 24, 32, 40, pool 44 | 60, 76, 92, pool 100 | 132, 164, 196, 212
VGG16_RF = {"conv3_3": 40, "pool3": 44, "conv4_2": 76, "pool4": 100, "conv5_3": 196, "pool5": 212}


def test_receptive_fields_by_hand():
    rf19 = receptive_fields("vgg19")
    for name, value in VGG19_RF.items():
        assert rf19[name] == value, name
    rf16 = receptive_fields("vgg16")
    for name, value in VGG16_RF.items():
        assert rf16[name] == value, name


def test_relu_shares_its_convs_receptive_field():
    rf = receptive_fields("vgg19")
    for name in layer_names("vgg19"):
        if name.startswith("relu"):
            assert rf[name] == rf[name.replace("relu", "conv")]


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
@pytest.mark.parametrize("size", [(224, 224), (67, 50)])
def test_shapes_match_the_network(arch, size):
    torch.manual_seed(0)
    net = VGGFeatures(arch)
    rows = architecture(arch, size)
    assert [r.name for r in rows] == list(layer_names(arch))
    out = net(torch.rand(1, 3, *size), [r.name for r in rows])
    for r in rows:
        assert out[r.name].shape == (1, r.channels, r.height, r.width), r.name
    params = {
        name: sum(p.numel() for p in m.parameters()) for name, m in net.layers.named_children()
    }
    assert all(params[r.name] == r.parameters for r in rows)


def test_strides_and_totals():
    rows = {r.name: r for r in architecture("vgg19")}
    assert rows["conv1_1"].stride == 1 and rows["pool1"].stride == 2 and rows["pool5"].stride == 32
    assert rows["pool5"].height == 7 and rows["pool5"].channels == 512
    assert sum(r.parameters for r in rows.values()) == 20_024_384  # VGG-19 conv part
    with pytest.raises(ValueError):
        architecture("vgg19", (0, 10))
    with pytest.raises(ValueError):
        architecture("vgg11")


def test_markdown_table():
    text = markdown_table(architecture("vgg16")[:2], columns=["name", "channels"])
    assert text.splitlines() == [
        "| name | channels |",
        "|---|---|",
        "| conv1_1 | 64 |",
        "| relu1_1 | 64 |",
    ]
    assert "| 0.125 |" in markdown_table([{"a": 0.125}])
    assert markdown_table([]) == ""


def test_activation_stats():
    f = torch.zeros(1, 4, 2, 2)
    f[0, 0] = 1.0
    f[0, 1, 0, 0] = 2.0
    stats = activation_stats({"x": f, "y": -f}, ["y", "x"])
    assert [s["layer"] for s in stats] == ["y", "x"]
    x = stats[1]
    assert x["mean"] == pytest.approx(6 / 16)
    assert x["max"] == 2.0
    assert x["zeros"] == pytest.approx(1 - 5 / 16)
    assert x["dead_channels"] == pytest.approx(0.5)
    assert stats[0]["dead_channels"] == 1.0


def test_figures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from nst_utils.display.anatomy import (
        plot_activation_stats,
        show_feature_grid,
        strongest_channels,
    )

    torch.manual_seed(0)
    net = VGGFeatures("vgg16")
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    feats = net(torch.rand(1, 3, 32, 40), layers)
    assert len(strongest_channels(feats["relu1_1"], 5)) == 5
    fig = show_feature_grid(feats, layers, k=4, receptive=receptive_fields("vgg16"))
    assert len(fig.axes) == 12
    assert fig.axes[0].get_ylabel().endswith("sees 3 px")
    assert fig.axes[0].get_ylabel().startswith("relu1_1\n64 ch, 32×40")
    fig2 = plot_activation_stats(activation_stats(feats, layers), title="noise")
    fig2.savefig(tmp_path / "stats.png")


def test_strongest_channels_rank_by_mean_response():
    from nst_utils.display.anatomy import strongest_channels

    features = torch.zeros(1, 5, 4, 4)
    features[0, 3] = 2.0
    features[0, 1, 0, 0] = 16.0  # mean 1: one strong spot, less than channel 3's mean of 2
    features[0, 4] = 0.5
    assert strongest_channels(features, 3) == [3, 1, 4]
    assert strongest_channels(features, 99)[:3] == [3, 1, 4]  # k is capped at N

"""The feature extractor's contract, on randomly initialised networks (no weights needed)."""

import pytest
import torch
from torch import nn

from nst_utils.paper.layers import conv_layer_names, layer_names
from nst_utils.paper.vgg import VGGFeatures


@pytest.fixture(scope="module")
def net19():
    torch.manual_seed(0)
    return VGGFeatures("vgg19")


def test_layer_names_follow_the_paper():
    names19 = layer_names("vgg19")
    assert names19[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert "conv5_4" in names19 and "conv5_4" not in layer_names("vgg16")
    assert len(conv_layer_names("vgg19")) == 16 and len(conv_layer_names("vgg16")) == 13
    assert {"conv4_2", "conv5_1", "conv5_3"} <= set(layer_names("vgg16"))


def test_positions_match_torchvision_indices():
    from torchvision.models import vgg16, vgg19

    for arch, factory in (("vgg16", vgg16), ("vgg19", vgg19)):
        features = factory(weights=None).features
        for index, name in enumerate(layer_names(arch)):
            kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4]]
            assert isinstance(features[index], kind), (arch, index, name)


def test_returns_requested_layers_with_expected_shapes(net19):
    x = torch.rand(1, 3, 64, 48)
    out = net19(x, ["relu1_1", "conv3_2", "pool4", "conv5_4"])
    assert set(out) == {"relu1_1", "conv3_2", "pool4", "conv5_4"}
    assert out["relu1_1"].shape == (1, 64, 64, 48)
    assert out["conv3_2"].shape == (1, 256, 16, 12)
    assert out["pool4"].shape == (1, 512, 4, 3)
    assert out["conv5_4"].shape == (1, 512, 4, 3)
    assert out["relu1_1"].min() >= 0


def test_stops_at_the_deepest_requested_layer(net19):
    ran = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o, name=name: ran.append(name))
        for name, m in net19.layers.named_children()
    ]
    try:
        net19(torch.rand(1, 3, 32, 32), ["conv1_2"])
    finally:
        for h in hooks:
            h.remove()
    assert ran == ["conv1_1", "relu1_1", "conv1_2"]


def test_unknown_layer_lists_valid_names():
    net16 = VGGFeatures("vgg16")
    with pytest.raises(ValueError, match=r"conv5_4.*valid names are conv1_1, relu1_1") as err:
        net16(torch.rand(1, 3, 32, 32), ["conv5_4"])
    assert "conv5_3" in str(err.value) and "\n" not in str(err.value)


def test_frozen_and_in_eval_mode(net19):
    assert not any(p.requires_grad for p in net19.parameters())
    net19.train()
    assert not net19.training


def test_normalisation_inside_the_model(net19):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    conv = net19.layers.conv1_1
    x = mean.expand(1, 3, 8, 8).clone()  # the ImageNet mean becomes zero input
    out = net19(x, ["conv1_1"])["conv1_1"]
    assert torch.allclose(out[0, :, 4, 4], conv.bias, atol=1e-5)


def test_pooling_choice():
    avg = VGGFeatures("vgg16", pooling="avg")
    assert isinstance(avg.layers.pool1, nn.AvgPool2d)
    assert isinstance(VGGFeatures("vgg16").layers.pool1, nn.MaxPool2d)
    with pytest.raises(ValueError, match="pooling"):
        VGGFeatures("vgg16", pooling="median")


def test_loads_torchvision_state_dict():
    from torchvision.models import vgg16

    torch.manual_seed(1)
    reference = vgg16(weights=None).features.eval()
    net = VGGFeatures("vgg16")
    net.load_torchvision_features(reference.state_dict())
    x = torch.rand(1, 3, 32, 32)
    normalised = (x - net.mean) / net.std
    assert torch.allclose(net(x, ["relu5_3"])["relu5_3"], reference[:30](normalised), atol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        VGGFeatures("vgg19").load_torchvision_features(reference.state_dict())


def test_in_place_relu_leaves_requested_conv_outputs_intact(random_vgg16):
    reference = VGGFeatures("vgg16")
    reference.load_state_dict(random_vgg16.state_dict())
    for module in reference.layers:
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    layers = ["conv1_1", "relu1_1", "conv2_2", "relu3_1"]
    got, expected = random_vgg16(x, layers), reference(x, layers)
    assert got["conv1_1"].min() < 0  # still before the ReLU
    for name in layers:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5)
    grad_got = torch.autograd.grad(sum(f.square().sum() for f in got.values()), x)[0]
    grad_expected = torch.autograd.grad(sum(f.square().sum() for f in expected.values()), x)[0]
    torch.testing.assert_close(grad_got, grad_expected, rtol=1e-3, atol=1e-6)

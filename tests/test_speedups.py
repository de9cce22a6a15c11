"""The speed-ups leave the results unchanged (within a tolerance); no test looks at timings.

Random-weight VGG-16 and tiny images: the checks are about arithmetic, not about art.
"""


import pytest
import torch

from nst_utils import losses
from nst_utils.objective import build_objective
from nst_utils.optimize import PRECISIONS, autocast, optimize, recommended_precision
from nst_utils.vgg import VGGFeatures

PAPER = dict(content_layers=("relu4_2",),
             style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    auto = VGGFeatures("vgg16")
    plain = VGGFeatures("vgg16")
    plain.load_state_dict(auto.state_dict())
    plain.channels_last = False
    return auto, plain


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 48, 40, generator=g), torch.rand(1, 3, 40, 48, generator=g)


def _loss_and_grad(net, content, style, image, precision="fp32"):
    objective = build_objective(net, content, style, **PAPER)
    x = image.clone().requires_grad_(True)
    with autocast(precision, x.device):
        terms = objective(x)
    terms.total.backward()
    return terms.as_floats(), x.grad


def test_channels_last_is_on_for_cpu_and_changes_nothing(nets, images):
    auto, plain = nets
    content, style = images
    image = (content + 0.1 * torch.randn_like(content)).clamp(0, 1)
    a, grad_a = _loss_and_grad(auto, content, style, image)
    b, grad_b = _loss_and_grad(plain, content, style, image)
    assert auto.layers.conv1_1.weight.is_contiguous(memory_format=torch.channels_last)
    assert plain.layers.conv1_1.weight.is_contiguous()
    for key in ("content", "style", "total"):
        assert a[key] == pytest.approx(b[key], rel=1e-4), key
    assert grad_a.is_contiguous()
    torch.testing.assert_close(grad_a, grad_b, rtol=1e-3, atol=1e-4 * grad_b.abs().max().item())


def test_channels_last_features_have_the_same_values(nets):
    auto, plain = nets
    x = torch.rand(1, 3, 32, 32)
    fa, fb = auto(x, ["relu1_1", "relu3_1"]), plain(x, ["relu1_1", "relu3_1"])
    for name in fa:
        torch.testing.assert_close(fa[name], fb[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
def test_symmetric_gram_backward_is_exact(channels_last):
    f = torch.randn(2, 4, 5, 3, dtype=torch.float64)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    assert torch.autograd.gradcheck(losses.gram_matrix, (f,))
    assert torch.autograd.gradgradcheck(losses.gram_matrix, (f,))
    flat = f.detach().reshape(2, 4, 15)
    torch.testing.assert_close(losses.gram_matrix(f), flat @ flat.transpose(1, 2))


def test_gram_stays_float32_under_bf16_autocast():
    f = torch.rand(1, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = losses.gram_matrix(f.bfloat16())
    assert g.dtype == torch.float32


def test_bf16_loss_and_gradient_match_fp32_at_the_same_image(nets, images):
    auto, _ = nets
    content, style = images
    image = (content + 0.1 * torch.randn_like(content)).clamp(0, 1)
    fp32, grad_fp32 = _loss_and_grad(auto, content, style, image)
    bf16, grad_bf16 = _loss_and_grad(auto, content, style, image, "bf16")
    assert bf16["total"] == pytest.approx(fp32["total"], rel=0.01)
    cosine = torch.nn.functional.cosine_similarity(grad_fp32.flatten(), grad_bf16.flatten(), dim=0)
    assert cosine > 0.99


def test_bf16_run_makes_the_same_progress(nets, images):
    """Trajectories part ways after a few L-BFGS steps, so the end points are compared loosely
    here; the 1% criterion on real weights and images is measured in BENCHMARKS.md."""
    auto, _ = nets
    content, style = images
    objective = build_objective(auto, content, style, **PAPER)
    with torch.no_grad():
        start = objective(content).total.item()
    drop = {}
    for precision in PRECISIONS:
        result = optimize(objective, content, steps=20, progress=False, precision=precision)
        with torch.no_grad():
            drop[precision] = start - objective(result.image).total.item()  # scored in fp32
    assert drop["fp32"] > 0.5 * start
    assert drop["bf16"] == pytest.approx(drop["fp32"], rel=0.1)


def test_precision_is_checked_and_the_recommendation_is_valid(nets, images):
    auto, _ = nets
    content, style = images
    objective = build_objective(auto, content, style, **PAPER)
    with pytest.raises(ValueError, match="precision"):
        optimize(objective, content, steps=1, progress=False, precision="fp8")
    assert recommended_precision("cpu") in PRECISIONS
    assert recommended_precision("meta") == "fp32"


def test_tutorial_reference_computes_the_kits_loss(nets, images):
    from benchmarks.reference_tutorial import run_style_transfer

    auto, _ = nets
    content, _ = images
    style = torch.rand_like(content)  # the tutorial's model needs images of one size
    image, history = run_style_transfer(auto, content, style, content, num_steps=1)
    objective = build_objective(auto, content, style, **PAPER)
    with torch.no_grad():
        expected = objective(content).total.item()
    assert history[0]["total"] == pytest.approx(expected, rel=1e-4)
    assert image.min() >= 0 and image.max() <= 1
    assert not auto.layers.conv1_1.weight.requires_grad  # the reference trains a copy


def test_in_place_relu_leaves_requested_conv_outputs_intact(nets):
    auto, _ = nets
    reference = VGGFeatures("vgg16")
    reference.load_state_dict(auto.state_dict())
    for module in reference.layers:
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    layers = ["conv1_1", "relu1_1", "conv2_2", "relu3_1"]
    got, expected = auto(x, layers), reference(x, layers)
    assert got["conv1_1"].min() < 0  # still before the ReLU
    for name in layers:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5)
    grad_got = torch.autograd.grad(sum(f.square().sum() for f in got.values()), x)[0]
    grad_expected = torch.autograd.grad(sum(f.square().sum() for f in expected.values()), x)[0]
    torch.testing.assert_close(grad_got, grad_expected, rtol=1e-3, atol=1e-6)

"""The fused style term computes eq. 4 and its gradient exactly as the plain version does.

Random-weight VGG-16 and tiny images: the checks are about arithmetic, not about art.
"""

import pytest
import torch

from nst_utils import fused_style
from nst_utils.fused_style import style_term
from nst_utils.losses import gram_matrix, style_layer_loss
from nst_utils.objective import Objective, StyleTarget, build_objective
from nst_utils.optimize import autocast
from nst_utils.spatial import MaskedStyleTarget


@pytest.fixture(scope="module")
def net(random_vgg16):
    return random_vgg16


@pytest.fixture(scope="module")
def images():
    """A content image and a style image of another size and aspect."""
    return tuple(torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1))
                 for size in ((48, 40), (40, 48)))


def _symmetric_target(n: int, batch: int = 1) -> torch.Tensor:
    f = torch.randn(batch, n, 9, dtype=torch.float64)
    return f @ f.mT / 9


@pytest.mark.parametrize("channels_last", [False, True])
def test_value_is_eq_4_times_the_weight(channels_last):
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    target = _symmetric_target(3)
    out, term = style_term(f, target, 0.7)
    m = 4 * 5
    expected = 0.7 * style_layer_loss(gram_matrix(f), target * m, n=3, m=m)
    torch.testing.assert_close(term, expected)
    assert torch.equal(out, f)


@pytest.fixture(params=["matmul", "convolution"])
def route(request, monkeypatch):
    """Both ways of computing the products: matrix multiplies, and (for one channels-last
    image) 1×1 convolutions, here switched on for the tests' small feature maps too."""
    if request.param == "convolution":
        monkeypatch.setattr(fused_style, "CONVOLUTION_MIN_POSITIONS", 1)
    return request.param


@pytest.mark.parametrize(("layout", "batch_target"), [
    ("contiguous", 1), ("contiguous", 2), ("channels_last", 1), ("channels_last", 2),
    ("one_channels_last_image", 1),
])
def test_gradients_pass_gradcheck(layout, batch_target, route):
    batch = 1 if layout == "one_channels_last_image" else 2
    f = torch.randn(batch, 3, 4, 5, dtype=torch.float64)
    if layout != "contiguous":
        f = f.contiguous(memory_format=torch.channels_last)
    assert fused_style._via_convolution(f) == (
        route == "convolution" and layout == "one_channels_last_image")
    f.requires_grad_(True)
    target = _symmetric_target(3, batch_target)
    probe = torch.randn(batch, 3, 4, 5, dtype=torch.float64)

    def both_gradients_at_once(x):
        out, term = style_term(x, target, 0.7)
        return (out * probe).sum() + 3.0 * term  # a "deeper" gradient plus the style gradient

    def style_gradient_only(x):
        return style_term(x, target, 0.7)[1]

    def deeper_gradient_only(x):
        return (style_term(x, target, 0.7)[0] * probe).sum()

    for fn in (both_gradients_at_once, style_gradient_only, deeper_gradient_only):
        assert torch.autograd.gradcheck(fn, (f,)), fn.__name__


def test_gradient_keeps_the_layout_and_dtype_of_the_features():
    f = torch.randn(1, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    f = f.bfloat16().requires_grad_(True)
    out, term = style_term(f, _symmetric_target(4).float(), 1.0)
    assert term.dtype == torch.float32  # the loss is computed in float32
    (out.float().sum() + term).backward()
    assert f.grad.dtype == torch.bfloat16
    assert f.grad.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fused_objective_matches_the_plain_one(net, images, precision, route):
    content, style = images
    fused = build_objective(net, content, [(style, 2.0), (content.flip(-1), 1.0)])
    plain = build_objective(net, content, [(style, 2.0), (content.flip(-1), 1.0)])
    plain.fuse = False
    start = (content + 0.2 * torch.randn_like(content)).clamp(0, 1)
    results = []
    for objective in (fused, plain):
        x = start.clone().requires_grad_(True)
        with autocast(precision, x.device):
            terms = objective(x)
        terms.total.backward()
        results.append((terms.as_floats(), x.grad))
    (a, grad_a), (b, grad_b) = results
    rel = 1e-5 if precision == "fp32" else 1e-3
    for key in ("content", "style", "total"):
        assert a[key] == pytest.approx(b[key], rel=rel), key
    tol = (1e-4 if precision == "fp32" else 2e-2) * grad_b.abs().max().item()
    torch.testing.assert_close(grad_a, grad_b, rtol=0, atol=tol)


def test_only_targets_with_the_papers_loss_are_fused(net, images):
    content, style = images
    plain = StyleTarget(net, style, ("relu1_1", "relu2_1"))
    masked = MaskedStyleTarget(net, style, torch.ones(1, 1, 8, 8), layers=("relu1_1",))
    assert plain.fusable and not masked.fusable
    x = content.clone().requires_grad_(True)
    both = Objective(net, None, [(plain, 0.5), (masked, 0.5)])
    separate = Objective(net, None, [(plain, 0.5), (masked, 0.5)], fuse=False)
    assert both(x).total.item() == pytest.approx(separate(x).total.item(), rel=1e-5)


def test_taps_run_on_the_way_and_their_output_continues(net, images):
    content, _ = images
    seen = []

    def double(x):
        seen.append(x.shape)
        return 2 * x

    plain = net(content, ["relu2_1"])
    tapped = net(content, ["relu2_1"], taps={"relu1_1": double})
    assert seen == [(1, 64, 48, 40)]
    assert "relu1_1" in tapped  # a tap's layer is computed, so it is returned too
    assert not torch.allclose(tapped["relu2_1"], plain["relu2_1"])
    # a tap on a convolution whose in-place ReLU follows: the returned output stays intact
    out = net(content, ["relu1_1"], taps={"conv1_1": lambda x: x - 1.0})
    assert out["conv1_1"].min() < 0 and out["relu1_1"].min() >= 0

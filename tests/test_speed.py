"""The speed module computes what the formulas as written compute; no test looks at timings.

Random-weight VGG-16 and tiny images: the checks are about arithmetic, not about art.
"""

import pytest
import torch

from nst_utils.beyond.spatial import MaskedStyleTarget
from nst_utils.checks import PRECISIONS
from nst_utils.engine import speed
from nst_utils.engine.precision import autocast, recommended_precision
from nst_utils.engine.speed import style_term
from nst_utils.paper.losses import gram_matrix, style_layer_loss
from nst_utils.paper.objective import Objective, StyleTarget, build_objective
from nst_utils.paper.optimize import optimize
from nst_utils.paper.vgg import VGGFeatures


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
        monkeypatch.setattr(speed, "CONVOLUTION_MIN_POSITIONS", 1)
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
    assert speed._via_convolution(f) == (
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
    """The fast route at ``precision`` against the formulas as written, in fp32."""
    content, style = images
    fused = build_objective(net, content, [(style, 2.0), (content.flip(-1), 1.0)], fast=True)
    plain = build_objective(net, content, [(style, 2.0), (content.flip(-1), 1.0)])
    start = (content + 0.2 * torch.randn_like(content)).clamp(0, 1)
    results = []
    for objective, arithmetic in ((fused, precision), (plain, "fp32")):
        x = start.clone().requires_grad_(True)
        with autocast(arithmetic, x.device):
            terms = objective(x)
        terms.total.backward()
        results.append((terms.as_floats(), x.grad))
    (a, grad_a), (b, grad_b) = results
    for key in ("content", "style", "total"):  # bf16: the content loss is the most sensitive
        rel = 1e-5 if precision == "fp32" else (5e-2 if key == "content" else 1e-2)
        assert a[key] == pytest.approx(b[key], rel=rel), key
    if precision == "fp32":
        tol = 1e-4 * grad_b.abs().max().item()
        torch.testing.assert_close(grad_a, grad_b, rtol=0, atol=tol)
    else:  # the whole network ran in bf16: the direction is what must agree
        cosine = torch.nn.functional.cosine_similarity(grad_a.flatten(), grad_b.flatten(), dim=0)
        assert cosine > 0.99


def test_only_style_targets_are_fused_and_the_rest_runs_its_own_loss(net, images):
    content, style = images
    plain = StyleTarget(net, style, ("relu1_1", "relu2_1"))
    masked = MaskedStyleTarget(net, style, torch.ones(1, 1, 8, 8), layers=("relu1_1",))
    x = content.clone().requires_grad_(True)
    fast = Objective(net, None, [(plain, 0.5), (masked, 0.5)], fast=True)
    written = Objective(net, None, [(plain, 0.5), (masked, 0.5)])
    calls = []
    original = speed._StyleTerm.forward

    def counted(ctx, *args):
        calls.append(args[0].shape)
        return original(ctx, *args)

    speed._StyleTerm.forward = staticmethod(counted)
    try:
        assert fast(x).total.item() == pytest.approx(written(x).total.item(), rel=1e-5)
    finally:
        speed._StyleTerm.forward = staticmethod(original)
    assert len(calls) == 2  # relu1_1 and relu2_1 of the plain target; the masked one is not


def test_evaluation_leaves_the_network_as_it_was(net, images):
    content, style = images
    before = net(content, ["relu2_1"])["relu2_1"]
    objective = build_objective(net, content, style, style_layers=("relu1_1", "relu2_1"),
                                fast=True)  # fmt: skip
    objective(content.clone().requires_grad_(True))
    assert not any(m._forward_hooks for m in net.modules())  # the fusing hooks are gone
    torch.testing.assert_close(net(content, ["relu2_1"])["relu2_1"], before)


def test_another_threads_pass_is_not_fused_into_this_run(net, images, monkeypatch):
    """Two runs share one network: while this thread's fusing hooks are on the layers,
    another thread's evaluation happens (forced to fall exactly there); both get their own
    loss, as if they had run one after the other."""
    import threading

    content, style = images
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(2))
    layers = ("relu1_1", "relu2_1")
    mine = build_objective(net, content, style, style_layers=layers, fast=True)
    theirs = build_objective(net, content.flip(-1), noise.flip(-2), style_layers=layers,
                             fast=True)  # fmt: skip
    expected_mine = mine(noise).total.item()
    expected_theirs = theirs(content).total.item()
    seen = {}
    original = speed.channels_last

    def meanwhile(model, image):  # called with this run's hooks already registered
        if threading.current_thread() is threading.main_thread() and not seen:
            other = threading.Thread(target=lambda: seen.update(t=theirs(content)))
            other.start()
            other.join()
        return original(model, image)

    monkeypatch.setattr(speed, "channels_last", meanwhile)
    assert mine(noise).total.item() == pytest.approx(expected_mine, rel=1e-5)
    assert seen["t"].total.item() == pytest.approx(expected_theirs, rel=1e-5)


# --------------------------------------------------------------------------- channels-last, bf16

PAPER = dict(content_layers=("relu4_2",),
             style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    auto = VGGFeatures("vgg16")
    plain = VGGFeatures("vgg16")
    plain.load_state_dict(auto.state_dict())
    return auto, plain


def _loss_and_grad(net, content, style, image, precision="fp32", fast=True):
    objective = build_objective(net, content, style, **PAPER)
    objective.fast = fast
    x = image.clone().requires_grad_(True)
    with autocast(precision, x.device):
        terms = objective(x)
    terms.total.backward()
    return terms.as_floats(), x.grad


def test_fast_route_runs_channels_last_and_changes_nothing(nets, images):
    auto, plain = nets
    content, style = images
    image = (content + 0.1 * torch.randn_like(content)).clamp(0, 1)
    a, grad_a = _loss_and_grad(auto, content, style, image)
    b, grad_b = _loss_and_grad(plain, content, style, image, fast=False)
    assert auto.layers.conv1_1.weight.is_contiguous(memory_format=torch.channels_last)
    assert plain.layers.conv1_1.weight.is_contiguous()
    for key in ("content", "style", "total"):
        assert a[key] == pytest.approx(b[key], rel=1e-4), key
    torch.testing.assert_close(grad_a, grad_b, rtol=1e-3, atol=1e-4 * grad_b.abs().max().item())


def test_channels_last_features_have_the_same_values(nets):
    auto, plain = nets
    x = torch.rand(1, 3, 32, 32)
    fa = auto(speed.channels_last(auto, x), ["relu1_1", "relu3_1"])
    fb = plain(x, ["relu1_1", "relu3_1"])
    for name in fa:
        torch.testing.assert_close(fa[name], fb[name], rtol=1e-4, atol=1e-5)


def test_losses_stay_float32_under_bf16_autocast(nets, images):
    auto, _ = nets
    content, style = images
    objective = build_objective(auto, content, style, **PAPER, fast=True)
    with autocast("bf16", content.device):
        terms = objective(content.clone().requires_grad_(True))
    assert terms.style.dtype == terms.content.dtype == torch.float32


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
    objective = build_objective(auto, content, style, **PAPER, fast=True)
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
    objective = build_objective(auto, content, style, **PAPER, fast=True)
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
    objective = build_objective(auto, content, style, **PAPER, fast=True)
    with torch.no_grad():
        expected = objective(content).total.item()
    assert history[0]["total"] == pytest.approx(expected, rel=1e-4)
    assert image.min() >= 0 and image.max() <= 1
    assert not auto.layers.conv1_1.weight.requires_grad  # the reference trains a copy

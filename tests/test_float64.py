"""No float64 on the compute device (issue 30, item 2): Apple's GPUs (MPS) have none, CUDA's
is slow. The small covariance and eigen computations run in float64 on the CPU, inside one
helper (:func:`nst_utils.engine.precision.float64_on_cpu`), and move back in float32.

No GPU here, so the paths run on the CPU while a dispatch mode watches every operation torch
runs and rejects any that reads or makes a float64 tensor outside that helper (and, inside it,
one that is not on the CPU). A path that would put float64 on an Apple GPU puts it outside the
helper here, and fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from nst_utils.beyond import color, rescale
from nst_utils.display.plotting import cluster_order
from nst_utils.engine import precision
from nst_utils.networks import arbitrary, decoder
from nst_utils.networks.decoder import Decoder
from nst_utils.paper.losses import gram_matrix
from nst_utils.paper.pipeline import Settings, run
from nst_utils.paper.vgg import VGGFeatures

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


class NoFloat64Outside(TorchDispatchMode):
    """Fails any operation with a float64 tensor (argument or result) outside
    :func:`~nst_utils.engine.precision.float64_on_cpu`, or on another device than the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0  # float64 operations the helper ran: the mode does see them

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        leaves, _ = tree_flatten((args, kwargs, out))
        doubles = [t for t in leaves if isinstance(t, torch.Tensor) and t.dtype == torch.float64]
        if doubles:
            assert precision.inside_float64_helper(), f"{func}: float64 outside the helper"
            assert all(t.device.type == "cpu" for t in doubles), f"{func}: float64 off the CPU"
            self.inside += 1
        return out


@pytest.fixture
def watched():
    with NoFloat64Outside() as mode:
        yield mode
    assert mode.inside > 0  # the computation did happen in float64, where it is allowed


@pytest.fixture(scope="module")
def vgg19():
    torch.manual_seed(0)
    return VGGFeatures("vgg19-caffe", "max")


def pictures(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 3, size, size, generator=g) for _ in "ab")


def test_the_mode_catches_float64_outside_the_helper():
    x = torch.rand(3)
    with NoFloat64Outside(), pytest.raises(AssertionError, match="outside the helper"):
        x.double()
    with NoFloat64Outside() as mode:
        assert precision.float64_on_cpu(lambda t: t.sum(), x).dtype == torch.float32
    assert mode.inside > 0


def test_colour_statistics_and_histogram_matching(watched):
    photo, painting = pictures()
    mean, cov = color.colour_stats(photo)
    assert mean.dtype == cov.dtype == torch.float32
    assert color.match_histogram(painting, photo).dtype == torch.float32
    color.match_histogram(painting, photo, method="eigen")


def test_preserve_colour_histogram_through_the_pipeline(random_vgg16, watched):
    photo, painting = pictures(1)
    result = run(random_vgg16, photo, painting, Settings(steps=1), progress=False,
                 extensions=[color.PreserveColour("histogram")])  # fmt: skip
    assert result.image.dtype == torch.float32


def test_wct_and_nst_paint_style(random_vgg16, watched):
    """``nst paint --style`` (default method WCT, with histogram colour preservation)."""
    photo, painting = pictures(2)
    content_f, style_f = (random_vgg16(p, ["relu2_1"])["relu2_1"] for p in (photo, painting))
    assert arbitrary.wct(content_f, style_f).dtype == torch.float32
    seen, paintings, _, _ = arbitrary.prepare(photo, ["swirls"], 32, preserve_color="histogram")
    targets = arbitrary.transform(random_vgg16, seen, paintings, ["relu1_1", "relu2_1"], "wct")
    arbitrary.invert(random_vgg16, seen, targets, Settings(steps=1), progress=False)


def test_decoders_whitening_training_and_painting(vgg19, tmp_path, watched):
    from PIL import Image

    from nst_utils.networks.training import TrainSettings

    paths = []
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (24, 24), colour).save(paths[-1])
    settings = TrainSettings(size=16, batch=2, steps=1, seed=0)
    trained = decoder.train_decoder("relu1_1", vgg19, settings, paths=paths, progress=False)
    assert trained.whitening.dtype == torch.float32
    photo, painting = pictures(3)
    decoders = [Decoder(k, width=0.25).eval() for k in ("relu1_1", "relu2_1")]
    decoder.paint(vgg19, decoders, photo, [painting], "wct", size=32, preserve_color="histogram")


def test_rescaled_vgg(random_vgg16, watched):
    means = rescale.channel_means(random_vgg16, list(pictures(4)))
    assert all(m.dtype == torch.float32 for m in means.values())
    rescale.rescaled_vgg(random_vgg16, list(pictures(5)), cache=False)


def test_gram_plot_order(random_vgg16, watched):
    photo, _ = pictures(6)
    order = cluster_order(gram_matrix(random_vgg16(photo, ["relu1_1"])["relu1_1"])[0])
    assert sorted(order.tolist()) == list(range(64))


#: ``.double()``, ``.to(torch.float64)`` or ``dtype=torch.float64``, with the call before it.
DOUBLE = re.compile(
    r"(\.\w+\([^()]*\))?\.(double\(\)|to\(torch\.float64)|dtype=torch\.(float64|double)"
)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_own_cells_make_float64_only_on_the_cpu(path):
    """A notebook's float64 comes right after ``.cpu()``: a tensor on the CPU."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    wrong = [m.group(0) for m in DOUBLE.finditer(code) if m.group(1) != ".cpu()"]
    assert not wrong, f"{path.name}: float64 not on the CPU: {wrong}"

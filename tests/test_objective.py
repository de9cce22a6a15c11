"""Style targets: the paper's eq. 4 when sizes match, and no bias from the style image's area."""

from pathlib import Path

import pytest
import torch

from nst_utils.assets.images import load_image
from nst_utils.paper.losses import gram_matrix, style_loss
from nst_utils.paper.objective import StyleTarget

DATA = Path(__file__).resolve().parents[1] / "data"
LAYERS = ("relu1_1", "relu2_1")


@pytest.fixture(scope="module")
def texture() -> torch.Tensor:
    return load_image(DATA / "brick.jpg", 64)


@pytest.fixture(scope="module")
def generated(vgg16, texture):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(texture.shape, generator=g)
    return vgg16(image, LAYERS)


def test_same_size_is_the_papers_eq_4(vgg16, texture, generated):
    target = StyleTarget(vgg16, texture, LAYERS)
    paper = {k: gram_matrix(f) for k, f in vgg16(texture, LAYERS).items()}
    assert target.loss(generated) == pytest.approx(style_loss(generated, paper).item(), rel=1e-5)


def test_a_larger_style_image_of_the_same_texture_gives_the_same_loss(vgg16, texture, generated):
    """Two copies of the texture side by side hold the same statistics on twice the area: per
    position the two targets agree up to the seam. Applied naively, eq. 4 would double the
    target Gram and make the texture itself a poor match for its own tiling."""
    tiled = torch.cat([texture, texture], dim=-1)
    small = StyleTarget(vgg16, texture, LAYERS).loss(generated).item()
    large = StyleTarget(vgg16, tiled, LAYERS)
    assert large.loss(generated).item() == pytest.approx(small, rel=0.05)

    itself = vgg16(texture, LAYERS)
    naive = style_loss(itself, {k: gram_matrix(f) for k, f in vgg16(tiled, LAYERS).items()})
    assert large.loss(itself).item() < 0.01 * naive.item()

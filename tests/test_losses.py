"""The paper's losses, checked by hand and by autograd."""

import pytest
import torch

from nst_utils.paper.losses import (
    content_loss,
    gram_matrix,
    style_layer_loss,
    style_loss,
    total_variation,
)


def test_gram_matrix_by_hand():
    # Two filters over three positions: F = [[1, 2, 0], [0, 1, 3]].
    f = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]]).reshape(1, 2, 1, 3)
    expected = torch.tensor([[[1 + 4 + 0, 0 + 2 + 0], [0 + 2 + 0, 0 + 1 + 9]]])
    assert torch.equal(gram_matrix(f), expected)


def test_gram_matrix_is_symmetric_and_batched():
    f = torch.randn(3, 4, 5, 6)
    g = gram_matrix(f)
    assert g.shape == (3, 4, 4)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.allclose(g[1], f[1].reshape(4, -1) @ f[1].reshape(4, -1).T)


def test_gram_unchanged_by_spatial_permutation():
    f = torch.randn(1, 8, 6, 7)
    perm = torch.randperm(6 * 7)
    shuffled = f.reshape(1, 8, -1)[:, :, perm].reshape(1, 8, 6, 7)
    assert not torch.equal(f, shuffled)
    assert torch.allclose(gram_matrix(f), gram_matrix(shuffled), atol=1e-5)
    target = {"a": gram_matrix(torch.randn(1, 8, 6, 7))}
    assert torch.allclose(style_loss({"a": f}, target), style_loss({"a": shuffled}, target))


def test_content_loss_zero_at_target_and_paper_formula():
    p = torch.randn(1, 3, 4, 5)
    assert content_loss(p.clone(), p) == 0
    f = p + 1.0  # every element off by one
    assert content_loss(f, p, "paper") == pytest.approx(0.5 * p.numel())
    assert content_loss(f, p, "mean") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="reduction"):
        content_loss(f, p, "weird")


def test_style_layer_loss_formula():
    g = torch.full((1, 2, 2), 3.0)
    a = torch.zeros(1, 2, 2)
    # sum (G - A)^2 = 4 * 9 = 36; / (4 * N^2 * M^2) with N=2, M=3 -> 36 / 144
    assert style_layer_loss(g, a, n=2, m=3) == pytest.approx(36 / 144)


def test_style_loss_weights_default_to_one_over_L():
    feats = {"a": torch.randn(1, 2, 3, 3), "b": torch.randn(1, 4, 2, 2)}
    targets = {k: torch.zeros(1, v.shape[1], v.shape[1]) for k, v in feats.items()}
    per_layer = [
        style_layer_loss(gram_matrix(f), targets[k], f.shape[1], f.shape[2] * f.shape[3])
        for k, f in feats.items()
    ]
    assert style_loss(feats, targets) == pytest.approx(sum(per_layer) / 2)
    weighted = style_loss(feats, targets, {"a": 1.0, "b": 0.0})
    assert weighted == pytest.approx(per_layer[0])


def test_gradcheck_float64():
    f = torch.randn(1, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    p = torch.randn(1, 3, 2, 3, dtype=torch.float64)
    a = gram_matrix(torch.randn(1, 3, 2, 3, dtype=torch.float64))
    assert a.dtype == torch.float64
    assert torch.autograd.gradcheck(lambda x: content_loss(x, p, "paper"), (f,))
    assert torch.autograd.gradcheck(lambda x: style_layer_loss(gram_matrix(x), a, 3, 6), (f,))
    assert torch.autograd.gradcheck(total_variation, (f,))
    assert torch.autograd.gradcheck(lambda x: style_loss({"l": x}, {"l": a}), (f,))


def test_total_variation_zero_for_flat_image():
    assert total_variation(torch.full((1, 3, 5, 5), 0.3)) == 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0
    # 4 rows x 3 horizontal jumps of size 1, over 16 pixels
    assert total_variation(stripes) == pytest.approx(12 / 16)

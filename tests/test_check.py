"""The checks of students' functions: a verdict, a hint for a constant factor, and the function
the notebook goes on with."""

from __future__ import annotations

import torch

from nst_utils.display.check import check, check_gradient, check_value, hint, relative_error
from nst_utils.paper.losses import content_loss, gram_matrix


def features() -> torch.Tensor:
    return torch.rand(1, 4, 5, 6, generator=torch.Generator().manual_seed(0))


def test_a_correct_function_is_kept(capsys):
    def my_gram(f):
        flat = f.flatten(2)
        return flat @ flat.transpose(1, 2)

    assert check(my_gram, gram_matrix, features()) is my_gram
    assert "correct" in capsys.readouterr().out


def test_a_missing_factor_is_named_and_the_library_takes_over(capsys):
    def my_loss(f, p):
        return 2 * content_loss(f, p)  # forgot the 1/2

    target = torch.zeros_like(features())
    assert check(my_loss, content_loss, features(), target) is content_loss
    out = capsys.readouterr().out
    assert "not yet" in out and "factor 2" in out


def test_an_unwritten_stub_is_reported_not_raised(capsys):
    def my_gram(f):
        raise NotImplementedError()

    assert check(my_gram, gram_matrix, features()) is gram_matrix
    assert "not implemented yet" in capsys.readouterr().out


def test_a_hand_written_gradient_is_checked_against_autograd(capsys):
    target = torch.zeros_like(features())

    def my_gradient(f, p):
        return (f - p) / f[0].numel()  # d/dF of 1/2 sum (F - P)^2 / (N M)

    assert check_gradient(my_gradient, content_loss, features(), target) is my_gradient
    assert "correct" in capsys.readouterr().out
    wrong = check_gradient(lambda f, p: f - p, content_loss, features(), target)
    assert wrong is not my_gradient
    assert "factor 120" in capsys.readouterr().out  # forgot the 1/(N M) = 1/120
    assert torch.allclose(wrong(features(), target), my_gradient(features(), target))


def test_values_shapes_and_unanswered_predictions(capsys):
    assert relative_error(torch.ones(3), torch.ones(3)) == 0
    assert relative_error(torch.ones(3), torch.ones(4)) == float("inf")
    assert "shape" in hint(torch.ones(3), torch.ones(4))
    assert check_value("prediction", 3.0, 3.0) is True
    assert check_value("prediction", ..., 3.0) is False
    assert "not answered yet" in capsys.readouterr().out


def test_a_claim_is_printed_and_must_hold_where_claims_are_checked(capsys, monkeypatch):
    import pytest

    from nst_utils.display.check import claim

    monkeypatch.delenv("NST_CHECK_CLAIMS", raising=False)
    monkeypatch.delenv("NST_FAST", raising=False)
    assert claim("the loss falls tenfold", 3.0, False) is False  # a student's run: printed
    assert "does NOT hold" in capsys.readouterr().out
    monkeypatch.setenv("NST_CHECK_CLAIMS", "1")
    monkeypatch.setenv("NST_FAST", "1")
    assert claim("the loss falls tenfold", 3.0, False) is False  # tiny sizes: only printed
    monkeypatch.delenv("NST_FAST")
    assert claim("the loss falls tenfold", 12.0, True) is True
    assert "claim: the loss falls tenfold | measured: 12 | holds" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="tenfold"):
        claim("the loss falls tenfold", 3.0, False)

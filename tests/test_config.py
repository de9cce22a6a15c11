"""Device auto-selection: CUDA, then Apple MPS, then the CPU; ``NST_DEVICE`` overrides."""

import pytest
import torch

from nst_utils.config import default_device


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"), (True, False, "cuda")],
)
def test_best_available_device_is_chosen(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert default_device() == torch.device(expected)


def test_nst_device_overrides_the_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("NST_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")

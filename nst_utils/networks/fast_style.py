r"""The paper's loss as a training loss: a network learns to paint (Johnson et al. 2016).

For a batch of photos :math:`p_1 \dots p_B` and style :math:`s`, the transformer paints
:math:`x_b = f_W(p_b, s)` and is scored by the objective that :func:`nst_utils.paper.pipeline.run`
optimises for one picture (eq. 7 of the paper, built from :mod:`nst_utils.paper.objective`),
averaged over the batch:

.. math:: \ell(W) = \frac1B \sum_b \Big(\alpha L_{content}(x_b, p_b)
          + \beta L_{style}(x_b, a_s) + \gamma L_{TV}(x_b)\Big).

The content target is each photo itself (its relu4_2 responses), the style target the
painting's Gram matrices, computed once. The weights are those of
:class:`nst_utils.paper.pipeline.Settings` (by default the network's calibrated β), so a trained
network's ``nst score`` compares directly with the optimisation's loss. A multi-style model
(conditional instance norm, :mod:`nst_utils.networks.painter`) trains one style per step, in turn.

:func:`train_style` puts the pieces together: photos (:mod:`nst_utils.networks.photos`), network,
loss, and the one training loop (:mod:`nst_utils.networks.training`).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..assets.calibration import default_style_weight
from ..beyond.styles import Source
from ..engine.precision import autocast, resolve_precision
from ..errors import NSTError
from ..paper.objective import ContentTarget, LossTerms, Objective, StyleTarget
from ..paper.pipeline import Settings, picture
from ..paper.vgg import VGGFeatures
from . import photos as photos_lib
from . import training
from .painter import StyleNet, style_mix
from .training import TrainSettings

#: The fields of :class:`~nst_utils.paper.pipeline.Settings` the training loss reads.
LOSS_FIELDS = ("content_weight", "style_weight", "tv_weight", "content_layers", "style_layers",
               "style_layer_weights", "content_reduction", "style_scale", "precision",
               "fast")  # fmt: skip


class StyleLoss:
    """``loss(model, photos, step) -> (loss, numbers)`` for
    :func:`nst_utils.networks.training.train`.

    ``paintings`` are the style images (tensors, at the size to train at); ``settings`` gives
    the weights and layers (:data:`LOSS_FIELDS`). Step ``t`` of rank ``r`` of ``w`` trains
    style ``(t w + r) mod S``.
    """

    def __init__(
        self, net: VGGFeatures, paintings: Sequence[torch.Tensor],
        settings: Settings | None = None, *, rank: int = 0, world: int = 1,
    ) -> None:  # fmt: skip
        settings = Settings() if settings is None else settings
        self.net, self.settings, self.rank, self.world = net, settings, rank, world
        beta = settings.style_weight
        self.beta = default_style_weight(net) if beta is None else beta
        self.targets = [StyleTarget(net, p, settings.style_layers, settings.style_layer_weights)
                        for p in paintings]  # fmt: skip
        self.precision = resolve_precision(settings.precision, net.mean.device)

    def style_at(self, step: int) -> int:
        """The style that step ``step`` trains on this rank."""
        return (step * self.world + self.rank) % len(self.targets)

    def objective(self, photos: torch.Tensor, style: int) -> Objective:
        """The paper's objective with each photo as its own content target."""
        s = self.settings
        content = ContentTarget(self.net, photos, s.content_layers, s.content_reduction)
        return Objective(self.net, content, [(self.targets[style], 1.0)],
                         content_weight=s.content_weight, style_weight=self.beta,
                         tv_weight=s.tv_weight, fast=s.fast)  # fmt: skip

    def terms(self, model, photos: torch.Tensor, style: int) -> LossTerms:
        """The objective's terms of the batch painted with ``style``, summed over the batch.

        The painting and its evaluation run in ``settings.precision`` (``"auto"``: bf16
        where it is native), as the optimisation's do; the targets, Gram matrices and losses
        stay float32.
        """
        mix = torch.nn.functional.one_hot(torch.tensor([style]), len(self.targets)).float()
        objective = self.objective(photos, style)
        with autocast(self.precision, photos.device):
            return objective(model(photos, mix))

    def __call__(self, model, photos: torch.Tensor, step: int) -> tuple[torch.Tensor, dict]:
        terms = self.terms(model, photos, self.style_at(step))
        numbers = {k: v / len(photos) for k, v in terms.as_floats().items()}
        return terms.total / len(photos), numbers


def train_style(
    styles: Sequence[Source],
    net: VGGFeatures,
    settings: TrainSettings | None = None,
    *,
    photos: Sequence[str | os.PathLike] | None = None,
    loss_settings: Settings | None = None,
    model: StyleNet | None = None,
    names: Sequence[str] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
) -> StyleNet:
    """Train a network that paints in the style of ``styles`` (one, or several: one network).

    ``styles`` are files, example names or tensors; ``photos`` the training images (default:
    the offline set, :func:`nst_utils.networks.photos.photo_paths`); ``model`` a network to go on
    training (default: a new :class:`~nst_utils.networks.painter.StyleNet`, seeded by
    ``settings.seed``) on ``net``'s device. The rest goes to
    :func:`nst_utils.networks.training.train`.
    """
    settings = TrainSettings() if settings is None else settings
    loss_settings = Settings() if loss_settings is None else loss_settings
    rank, world, _ = training.process()
    device = net.mean.device
    names = list(names) if names is not None else [_name(s, i) for i, s in enumerate(styles)]
    if model is None:
        torch.manual_seed(settings.seed)
        model = StyleNet(styles=len(styles))
    if model.styles != len(styles):
        raise NSTError(f"a model of {model.styles} styles, but {len(styles)} paintings: give "
                       "one painting per style")  # fmt: skip
    model = model.to(device).train()
    model.style_names = names
    size = round(settings.size * loss_settings.style_scale)
    paintings = [picture(style, size, device) for style in styles]
    loss = StyleLoss(net, paintings, loss_settings, rank=rank, world=world)
    paths = photos_lib.photo_paths() if photos is None else [Path(p) for p in photos]

    def batches(start: int):
        return photos_lib.crops(paths, settings.size, settings.batch, seed=settings.seed,
                                rank=rank, world=world, skip=start)  # fmt: skip

    meta = {"styles": names, "architecture": model.architecture(), "vgg": [net.arch, net.pooling],
            "loss": {k: getattr(loss_settings, k) for k in LOSS_FIELDS},
            "photos": photos_lib.fingerprint(paths)}  # fmt: skip
    training.train(model, loss, batches, settings, checkpoint=checkpoint, resume=resume,
                   progress=progress, on_log=on_log, meta=meta)  # fmt: skip
    return model.eval()


def _name(style: Source, index: int) -> str:
    """A style's name: a file's stem, an example's name, or ``style<i>`` for a tensor."""
    if isinstance(style, str | os.PathLike):
        return Path(style).stem
    return f"style{index}"


def paint(model: StyleNet, photo: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
    """``model`` applied to ``photo`` (``(1, 3, H, W)``) without gradients, on its device."""
    target = next(model.parameters()).device
    with torch.no_grad():
        return model(photo.to(target), mix).cpu()


def record(*, command: str | None, styles: Sequence[str], data: str,
           settings: TrainSettings, loss_settings: Settings, net: VGGFeatures, seconds: float,
           steps: int) -> dict:  # fmt: skip
    """What a model file keeps about how it was made, so anyone can retrain it (``data``
    says which photos: a folder, or the bundled names)."""
    return {
        "command": command,
        "styles": [str(s) for s in styles],
        "data": data,
        "settings": settings.as_dict(),
        "loss": {k: getattr(loss_settings, k) for k in LOSS_FIELDS},
        "vgg": {"arch": net.arch, "pooling": net.pooling},
        "steps": steps,
        "seconds": round(seconds, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "device": str(net.mean.device),
                    "processes": training.process()[1], "torch": torch.__version__},
    }  # fmt: skip


__all__ = ["StyleLoss", "paint", "record", "style_mix", "train_style"]

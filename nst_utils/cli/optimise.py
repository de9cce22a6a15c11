"""``nst stylize``, ``nst reconstruct-content``, ``nst synthesize-texture``: optimise the pixels.

The three commands differ only in their inputs and layers. Each one resolves its inputs,
then :func:`prepare` checks everything (torch-free checks first), estimates the memory
(``--dry-run`` stops there) and loads the network; :func:`run_and_save` is the one call of
:func:`nst_utils.paper.pipeline.run`, and :func:`settings_from` the one place options become
:class:`~nst_utils.paper.pipeline.Settings` (``nst video`` uses it too).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..checks import INITS, OPTIMIZERS
from ..paper.layers import CONTENT_LAYERS, STYLE_LAYERS
from .modes import UsageError, fill_defaults, flag, given
from .options import (
    add_arch,
    add_device,
    add_loss_weights,
    add_output,
    add_pooling,
    add_precision,
    add_preserve_color,
    add_quiet,
    add_steps,
    add_style_masks,
    choose_arch,
    layer_list,
    load_network,
    non_negative,
    positive,
    positive_int,
    resolve_device,
    resolve_input,
    size_list,
    style_specs,
)

#: What to do about a run that does not fit, in the command's words.
MEMORY_ADVICE = "use a smaller --size or coarse-to-fine --scales (e.g. --scales 256,512)"
BF16_ADVICE = ", or --precision bf16 on a CPU or GPU with native bfloat16"
#: The options of a run that are :class:`~nst_utils.paper.pipeline.Settings` fields as they are.
RUN_FIELDS = ("steps", "init", "optimizer", "lr", "precision", "seed")

Check = Callable[[Sequence[str]], Sequence[str]]


class DryRun(Exception):  # not an error: the plan was printed
    """Raised after ``--dry-run`` printed the plan; ``fits`` decides the exit status."""

    def __init__(self, fits: bool) -> None:
        super().__init__("dry run")
        self.fits = fits


# --------------------------------------------------------------------------- parsers


def add_run_options(p: argparse.ArgumentParser, *, steps: int, init: str,
                    inits: Sequence[str] = INITS, precision: str = "fp32") -> None:  # fmt: skip
    """Options shared by the three optimisation commands (``inits``: the starts it has)."""
    add_output(p)
    p.add_argument("--size", type=positive_int, default=None,
                   help="longest side in pixels (default 256)")  # fmt: skip
    add_steps(p, steps, help="iterations")
    p.add_argument("--init", choices=inits, default=init, help=f"starting image (default {init})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    p.add_argument("--lr", type=non_negative, default=None, help="learning rate")
    add_arch(p)
    add_pooling(p)
    p.add_argument("--seed", type=int, default=None,
                   help="the seed of --init noise (default 0)")  # fmt: skip
    add_device(p)
    p.add_argument("--log", type=Path, default=None, help="write settings and history JSON")
    p.add_argument(
        "--save-every", type=positive_int, default=None, metavar="N", help="also save every N"
    )
    add_precision(p, precision)
    add_quiet(p)
    p.add_argument(
        "--dry-run", action="store_true",
        help="check everything, print the plan and the memory estimate, run nothing",
    )  # fmt: skip


def add_commands(commands) -> None:
    """Add ``stylize``, ``reconstruct-content`` and ``synthesize-texture``."""
    p = commands.add_parser("stylize", help="paint CONTENT in the style of STYLE")
    p.set_defaults(handler=cmd_stylize)
    p.add_argument("content", help="content image: a file or an example name")
    p.add_argument("style", help="style image: a file or an example name, optionally :WEIGHT")
    # bf16 ends close to fp32's loss at class settings (BENCHMARKS.md), so style transfer
    # uses it where it is native; the reconstructions, which drive the loss near zero, do not.
    add_run_options(p, steps=300, init="content", precision="auto")  # every start
    add_loss_weights(p)
    p.add_argument("--content-layers", type=layer_list, default=None, help="e.g. relu4_2")
    p.add_argument("--style-layers", type=layer_list, default=None, help="comma-separated")
    p.add_argument(
        "--content-reduction", choices=("mean", "paper"), default=None,
        help="content loss: mean over the layer's values (default) or eq. 1's sum",
    )  # fmt: skip
    # Notebook 06: several styles, regions, colour, coarse-to-fine, rescaled VGG.
    p.add_argument(
        "--style", dest="styles", action="append", default=[], metavar="STYLE[:WEIGHT]",
        help="another style to blend in (weights are shares of their total), e.g. the_scream:0.3",
    )  # fmt: skip
    add_style_masks(p)
    add_preserve_color(p)
    p.add_argument(
        "--scales", type=size_list, default=None, metavar="S1,S2,...",
        help="coarse-to-fine sizes; the last is the output size (replaces --size)",
    )  # fmt: skip
    p.add_argument(
        "--style-scale", type=positive, default=1.0, help="style image size / content size"
    )
    p.add_argument("--rescaled-vgg", action="store_true", help="the paper's mean-1 rescaled VGG")

    p = commands.add_parser("reconstruct-content", help="image from one layer's features")
    p.set_defaults(handler=cmd_reconstruct_content)
    p.add_argument("image")
    p.add_argument("--layer", default="relu4_2", help="e.g. conv1_2, relu4_2")
    add_run_options(p, steps=200, init="noise", inits=("noise", "content"))  # no painting

    p = commands.add_parser("synthesize-texture", help="texture from Gram matrices")
    p.set_defaults(handler=cmd_synthesize_texture)
    p.add_argument("image")
    p.add_argument("--layers", type=layer_list, default=None, help="default relu1_1,...,relu5_1")
    add_run_options(p, steps=200, init="noise", inits=("noise", "style"))  # no photo


# --------------------------------------------------------------------------- commands


def check_run(args: argparse.Namespace) -> None:
    """Refuse what this run would not read (a usage mistake, before any work), then put the
    defaults in: ``--seed`` seeds only ``--init noise``, ``--dry-run`` writes no ``--log``
    or snapshots, ``--scales`` replaces ``--size``."""
    if args.seed is not None and args.init != "noise":
        raise UsageError(f"--seed is for --init noise; --init {args.init} starts from a "
                         "picture, with nothing random to seed")  # fmt: skip
    for dest in ("log", "save_every"):
        if args.dry_run and given(args, dest):
            raise UsageError(f"{flag(dest)} is for a run; --dry-run prints the plan and writes "
                             "nothing")  # fmt: skip
    if getattr(args, "scales", None) and args.size is not None:
        raise UsageError("--size is for a run at one size; with --scales the last scale is "
                         "the output's size")  # fmt: skip
    fill_defaults(args, {"seed": 0, "size": 256})


def cmd_stylize(args: argparse.Namespace) -> None:
    """Paint the content image in the style(s), with notebook 06's extras."""
    from ..checks import check_scales

    check_run(args)
    inputs = {"content": resolve_input(args.content)}  # the content first, checked first
    specs = style_specs([args.style, *args.styles], args.style_masks)
    inputs.update({f"style{i}": s.source for i, s in enumerate(specs, 1)})
    inputs.update({f"mask{i}": s.mask for i, s in enumerate(specs, 1) if s.mask is not None})
    scales = check_scales(args.scales) if args.scales else [args.size]

    def layers_of(check: Check) -> tuple[str, ...]:
        return (*check(args.content_layers or CONTENT_LAYERS),
                *check(args.style_layers or STYLE_LAYERS))  # fmt: skip

    net, device = prepare(args, inputs, scales, layers_of)
    from ..beyond import color
    from ..beyond.styles import plan

    settings = settings_from(
        args, net, scales,
        content_weight=args.content_weight, tv_weight=args.tv_weight,
        content_layers=args.content_layers, style_layers=args.style_layers,
        content_reduction=args.content_reduction, style_scale=args.style_scale,
    )  # fmt: skip
    paintings, regions = plan(specs)
    extensions = [*regions, *color.preserving(args.preserve_color)]
    styles = [{"image": str(s.source), "weight": s.weight} for s in specs]
    run_and_save(args, net, device, inputs["content"], paintings, settings, inputs,
                 {"styles": styles, "preserve_color": args.preserve_color},
                 extensions)  # fmt: skip


def cmd_reconstruct_content(args: argparse.Namespace) -> None:
    """An image from one layer's features of a photo (notebook 03)."""
    check_run(args)
    inputs = {"image": resolve_input(args.image)}
    net, device = prepare(args, inputs, [args.size], lambda check: check([args.layer]))
    settings = settings_from(args, net, [args.size], content_layers=(args.layer,))
    run_and_save(args, net, device, inputs["image"], None, settings, inputs)


def cmd_synthesize_texture(args: argparse.Namespace) -> None:
    """A texture with a picture's Gram matrices (notebook 04)."""
    check_run(args)
    inputs = {"image": resolve_input(args.image)}
    layers = args.layers or STYLE_LAYERS
    net, device = prepare(args, inputs, [args.size], lambda check: check(layers))
    settings = settings_from(args, net, [args.size], style_layers=args.layers)
    run_and_save(args, net, device, None, inputs["image"], settings, inputs)


# --------------------------------------------------------------------------- running


def prepare(args: argparse.Namespace, inputs: dict[str, Path], scales: Sequence[int],
            layers_of: Callable[[Check], Sequence[str]]):  # fmt: skip
    """Check everything the arguments decide, then load the network (the first heavy step).

    ``inputs`` are the resolved input files (the first is the image whose shape the result
    has), ``scales`` the sizes the run optimises at, ``layers_of(check)`` the layers it uses,
    each list passed through ``check``. Output path, inputs, layer names and memory are all
    checked before any work, so a mistake costs well under a second (``--dry-run`` stops
    here and prints the plan): those that need no torch (paths, layer names) before torch is
    even imported. Returns ``(net, device)``.
    """
    from ..paper.layers import ARCHS, check_layers

    check_outputs(args, inputs)
    layers_of(lambda names: check_layers(args.arch or ARCHS[0], names))  # VGG-19's: all names

    from ..assets.images import probe_size
    from ..engine import memory
    from ..engine.precision import resolve_precision

    device = resolve_device(args)
    choice = choose_arch(args)
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
        print_plan(args, inputs, choice.arch, device, precision, sizes, layers, estimate)
    memory.check_fits(estimate, device, MEMORY_ADVICE + (BF16_ADVICE * (precision == "fp32")))
    return load_network(args, device, choice), device


def check_outputs(args: argparse.Namespace, inputs: dict[str, Path]) -> None:
    """``-o``, ``--log`` and the ``--save-every`` snapshots: each can be written and none is
    an input (nor the log another output), all before any work."""
    from ..checks import check_log_path, check_output_path, check_snapshots

    check_output_path(args.output, protect=inputs.values())
    if args.log:
        check_log_path(args.log, [*inputs.values(), args.output])
    if args.save_every:
        check_snapshots(args.output, [*inputs.values(), *([args.log] if args.log else [])])


def print_plan(args: argparse.Namespace, inputs: dict[str, Path], arch: str, device,
               precision: str, sizes: Sequence[tuple[int, int]], layers: Sequence[str],
               estimate) -> None:  # fmt: skip
    """``--dry-run``: what would run and whether it fits; raises :class:`DryRun`."""
    from ..engine import memory

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
    raise DryRun(fits)


def settings_from(args: argparse.Namespace, net, scales: Sequence[int] = (), **fields):
    """The run's :class:`~nst_utils.paper.pipeline.Settings`: the options of
    :data:`RUN_FIELDS` the command has, the size(s) of ``scales`` (the last is the output's),
    ``--style-weight`` where the command has it (default: ``net``'s calibrated one), and
    ``fields`` (``None`` values keep the defaults). The commands run the engine's speed path
    (``fast``): the same numbers as the formulas as written, sooner."""
    from ..paper.pipeline import Settings

    given = {name: getattr(args, name) for name in RUN_FIELDS if hasattr(args, name)}
    given["fast"] = True
    if scales:
        given.update(size=scales[-1], coarse_sizes=tuple(scales[:-1]))
    if hasattr(args, "style_weight"):
        from ..assets.calibration import default_style_weight

        weight = args.style_weight
        fields["style_weight"] = default_style_weight(net) if weight is None else weight
    return Settings(**given).updated(**fields)


def run_and_save(args: argparse.Namespace, net, device, content, style, settings,
                 inputs: dict[str, Path], extra: dict | None = None,
                 extensions: Sequence = ()) -> None:  # fmt: skip
    """The one way every optimisation command runs: :func:`nst_utils.paper.pipeline.run` (with
    the later chapters' ``extensions``), then the image and the ``--log`` JSON, each written
    whole or not at all."""
    from ..assets.images import save_image
    from ..engine.precision import resolve_precision
    from ..paper.pipeline import run

    result = run(net, content, style, settings, extensions=extensions,
                 **_hooks(args, settings))  # fmt: skip
    if result.status == "interrupted":
        print(f"interrupted: saving the best image so far to {args.output}", file=sys.stderr)
    save_image(result.image, args.output, protect=inputs.values())
    if args.log:
        _write_json(args.log, {
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
        })  # fmt: skip
    if result.status == "interrupted":
        raise KeyboardInterrupt  # the image and log are saved; the exit status says "cut short"
    if not args.quiet:
        last = result.history[-1] if result.history else {}
        print(
            f"wrote {args.output} ({net.arch}, {device}, {len(result.history)} iterations, "
            f"{last.get('seconds', 0):.1f} s, loss {last.get('total', float('nan')):.4g})"
        )


def _hooks(args: argparse.Namespace, settings) -> dict:
    """Progress and ``--save-every`` snapshots for :func:`nst_utils.paper.pipeline.run`."""
    hooks: dict = {"progress": not args.quiet}
    if args.save_every:
        from ..assets.images import save_image

        stem, suffix = args.output.with_suffix(""), args.output.suffix
        by_size = bool(settings.coarse_sizes)  # iterations restart at each size

        def snapshot(iteration, image, losses):
            size = f"-{max(image.shape[-2:])}px" if by_size else ""
            save_image(image, Path(f"{stem}{size}-{iteration:05d}{suffix}"))

        hooks.update(callback=snapshot, callback_every=args.save_every)
    return hooks


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` with :func:`nst_utils.assets.files.atomic_write` (whole or not at all)."""
    from ..assets.files import atomic_write
    from ..errors import NSTError

    try:
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(data, indent=2))
    except OSError as err:
        raise NSTError(f"{path}: cannot be written ({err.strerror or err}); choose another "
                       "--log path") from None  # fmt: skip

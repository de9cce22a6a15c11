"""``nst video`` (issue 17): paint a clip frame by frame, with or without the temporal loss
(Ruder et al. 2016), and write it as a GIF, an MP4 or a folder of PNG frames.

The four methods read different options (:data:`VIDEO`: ``blend`` paints with a trained
network given ``--model``, else by optimisation); a foreign one is refused before any work
(:mod:`.modes`), as are frames too small for the painter and an output that is an input. A
frame that comes out with NaN or infinite values stops the run, and the frames this run wrote
are removed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checks import (
    BLEND,
    MIN_SIZE,
    NETWORK_MIN_SIZE,
    SYNTHETIC_PREFIX,
    TEMPORAL_WEIGHT,
    VIDEO_METHODS,
    check_picture_size,
)
from ..errors import NSTError
from .modes import Modes, Rule, UsageError, fill_defaults, given
from .optimise import settings_from
from .options import (
    add_arch,
    add_device,
    add_output,
    add_quiet,
    add_size,
    add_style_weight,
    frame_count,
    frame_rate,
    load_network,
    non_negative,
    positive_int,
    resolve_device,
    resolve_input,
    share,
)

ALL = ("optimize", "temporal", "fast", "blend --model", "blend")
OPTIMISING = ("optimize", "temporal", "blend")
NETWORK = ("fast", "blend --model")
BY_OPTIMISATION = "optimize, temporal and blend without --model (the optimising methods)"
ONE_PASS = "a trained network paints each frame in one pass, without VGG or iterations"
#: Which options each way of painting reads (``blend --model``: blend with a network).
VIDEO = Modes("video", {
    **{dest: Rule(ALL, "every method") for dest in ("input", "output", "size", "frames",
                                                    "fps", "device", "quiet")},
    "style": Rule(OPTIMISING, BY_OPTIMISATION, "a trained network paints its own style"),
    "model": Rule(NETWORK, "--method fast and blend", "optimize and temporal paint every "
                  "frame by optimisation, with --style"),
    "steps": Rule(OPTIMISING, BY_OPTIMISATION, ONE_PASS),
    "style_weight": Rule(OPTIMISING, BY_OPTIMISATION, ONE_PASS),
    "arch": Rule(OPTIMISING, BY_OPTIMISATION, ONE_PASS),
    "temporal_weight": Rule(("temporal",), "--method temporal", "only temporal adds the "
                            "temporal term"),
    "blend": Rule(("blend --model", "blend"), "--method blend", "only blend mixes in the "
                  "previous output"),
})  # fmt: skip
VIDEO_DEFAULTS = {"steps": 50, "temporal_weight": TEMPORAL_WEIGHT, "blend": BLEND}


def add_commands(commands) -> None:
    """Add ``video``."""
    p = commands.add_parser("video", help="paint a video clip (Ruder et al. 2016)")
    p.set_defaults(handler=cmd_video)
    p.add_argument("input", metavar="IN",
                   help="a video file (needs the video extra) or synthetic:<photo>, e.g. "
                   "synthetic:chelsea (a pan and zoom with exactly known flow)")  # fmt: skip
    add_output(p, "OUT.gif, OUT.mp4 (video extra) or a folder for PNG frames")
    p.add_argument("--style", default=None,
                   help="style image (optimize, temporal, blend without --model)")  # fmt: skip
    p.add_argument("--method", choices=VIDEO_METHODS, default="temporal",
                   help="default temporal; fast and blend --model paint with a trained network")
    p.add_argument(
        "--model", default=None, help="trained network for fast/blend (nst paint --list)"
    )
    add_size(p, 128, help="frames' longest side")
    p.add_argument("--frames", type=frame_count, default=None,
                   help="paint the first N frames, N >= 2 (synthetic clip: 16)")  # fmt: skip
    p.add_argument("--steps", type=positive_int, default=None,
                   help="iterations per frame (default 50; the optimising methods)")  # fmt: skip
    add_style_weight(p)
    p.add_argument("--temporal-weight", type=non_negative, default=None,
                   help=f"lambda of the temporal term (default {TEMPORAL_WEIGHT:g}: "
                   "BENCHMARKS.md, Video; --method temporal)")  # fmt: skip
    p.add_argument("--blend", type=share, default=None,
                   help=f"share of the warped previous output where the flow holds (default "
                   f"{BLEND:g}; --method blend)")  # fmt: skip
    p.add_argument("--fps", type=frame_rate, default=None,
                   help="frame rate of a .gif or .mp4 output (default: the clip's)")
    add_arch(p, help="the VGG of the optimising methods")
    add_device(p)
    add_quiet(p)


def video_mode(args: argparse.Namespace) -> str:
    """The way the frames are painted (a key of :data:`VIDEO`), after refusing what it does
    not read and asking for what it needs."""
    mode = "blend --model" if args.method == "blend" and given(args, "model") else args.method
    VIDEO.check(args, mode)
    if mode == "fast" and args.model is None:
        raise UsageError("--method fast paints with a trained network: give --model "
                         "(nst paint --list shows the shipped ones)")  # fmt: skip
    if mode in OPTIMISING and args.style is None:
        raise UsageError(f"--method {args.method} optimises every frame: give --style (or "
                         "--model, a trained network, with fast or blend)")  # fmt: skip
    if args.fps is not None and not Path(args.output).suffix:
        raise UsageError("--fps is for a .gif or .mp4 output; PNG frames in a folder have no "
                         "frame rate")  # fmt: skip
    fill_defaults(args, VIDEO_DEFAULTS)
    return mode


def _check(args: argparse.Namespace) -> tuple[str, Path, Path | None]:
    """Every check the arguments allow, torch-free: ``(mode, output, style file)``."""
    from ..checks import check_clip_output

    mode = video_mode(args)
    synthetic = str(args.input).startswith(SYNTHETIC_PREFIX)
    if synthetic:  # the photo it pans over, found before any work
        resolve_input(str(args.input)[len(SYNTHETIC_PREFIX):] or "chelsea")
    if not synthetic and Path(args.input).is_dir():
        raise NSTError(f"{args.input}: is a folder; give a video file, or {SYNTHETIC_PREFIX}"
                       "chelsea for the synthetic clip")  # fmt: skip
    if not synthetic and not Path(args.input).is_file():
        raise NSTError(f"{args.input}: video file not found; check the path, or use "
                       f"{SYNTHETIC_PREFIX}chelsea for the synthetic clip")  # fmt: skip
    style = resolve_input(args.style) if mode in OPTIMISING else None
    model = [Path(args.model)] if mode in NETWORK and Path(args.model).is_file() else []
    source = [] if synthetic else [Path(args.input)]
    out = check_clip_output(args.output, protect=[*source, *([style] if style else []), *model])
    if synthetic:  # 4:3 frames (nst_utils.video.clips.synthetic_clip)
        _check_frame_size(args, mode, (3, 4), "the synthetic clip's frames")
    return mode, out, style


def _check_frame_size(args: argparse.Namespace, mode: str, shape, what: str) -> None:
    """Frames of ``shape`` at ``--size`` must be large enough for the way they are painted."""
    if mode in NETWORK:
        check_picture_size(shape, args.size, NETWORK_MIN_SIZE, what, "a trained network")
    else:
        check_picture_size(shape, args.size, MIN_SIZE, what,
                           "painting by optimisation (VGG's five blocks)")  # fmt: skip


def cmd_video(args: argparse.Namespace) -> None:
    """Check everything, read the clip, paint it frame by frame, write what was painted."""
    mode, out, style = _check(args)
    from ..networks.painter import load_model
    from ..video import clips

    device = resolve_device(args)
    model = load_model(args.model, device) if mode in NETWORK else None  # as nst paint --model
    clip = clips.load_clip(args.input, args.size, args.frames)
    _check_frame_size(args, mode, tuple(clip.frames.shape[-2:]), f"{args.input}'s frames")
    if args.method in ("temporal", "blend"):
        clip = clip.with_estimated_flow(progress=not args.quiet)
    net, settings = None, None
    if mode in OPTIMISING:
        net = load_network(args, device)
        settings = settings_from(args, net)
    painted = _paint(args, clip, out, net=net, style=style, settings=settings, model=model)
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


def _paint(args: argparse.Namespace, clip, out: Path, **painter):
    """:func:`nst_utils.video.temporal.paint_clip`, each frame saved as it is done into a
    folder output; a frame that fails (NaN, say) removes the frames this run wrote."""
    from ..video import clips, temporal

    written: list[Path] = []

    def on_frame(k, frame):
        written.extend(clips.save_frames(frame, out, start=k))

    try:
        return temporal.paint_clip(
            clip, args.method, blend=args.blend, temporal_weight=args.temporal_weight,
            progress=not args.quiet, on_frame=None if out.suffix else on_frame, **painter,
        )  # fmt: skip
    except NSTError as err:
        for path in written:
            path.unlink(missing_ok=True)
        kept = (f"removed the {len(written)} frame(s) this run wrote in {out}" if written else
                "nothing written")  # fmt: skip
        raise NSTError(f"{err}; {kept}") from None

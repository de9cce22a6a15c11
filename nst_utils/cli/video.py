"""``nst video`` (issue 17): paint a clip frame by frame, with or without the temporal loss
(Ruder et al. 2016), and write it as a GIF, an MP4 or a folder of PNG frames."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checks import BLEND, TEMPORAL_WEIGHT, VIDEO_METHODS
from ..errors import NSTError
from .optimise import settings_from
from .options import (
    add_arch,
    add_device,
    add_output,
    add_quiet,
    add_seed,
    add_size,
    add_steps,
    add_style_weight,
    load_network,
    non_negative,
    positive,
    positive_int,
    resolve_device,
)


def add_commands(commands) -> None:
    """Add ``video``."""
    p = commands.add_parser("video", help="paint a video clip (Ruder et al. 2016)")
    p.set_defaults(handler=cmd_video)
    p.add_argument("input", metavar="IN",
                   help="a video file (needs the video extra) or synthetic:<photo>, e.g. "
                   "synthetic:chelsea (a pan and zoom with exactly known flow)")  # fmt: skip
    add_output(p, "OUT.gif, OUT.mp4 (video extra) or a folder for PNG frames")
    p.add_argument("--style", default=None, help="style image (optimize, temporal, blend)")
    p.add_argument("--method", choices=VIDEO_METHODS, default="temporal")
    p.add_argument(
        "--model", default=None, help="trained network for fast/blend (nst paint --list)"
    )
    add_size(p, 128, help="frames' longest side")
    p.add_argument("--frames", type=positive_int, default=None,
                   help="paint the first N frames (synthetic clip: 16)")  # fmt: skip
    add_steps(p, 50, help="iterations per frame")
    add_style_weight(p)
    p.add_argument("--temporal-weight", type=non_negative, default=TEMPORAL_WEIGHT,
                   help="lambda of the temporal term (default %(default)g: BENCHMARKS.md, "
                   "Video)")  # fmt: skip
    p.add_argument("--blend", type=non_negative, default=BLEND,
                   help="blend: share of the warped previous output where flow holds")  # fmt: skip
    p.add_argument("--fps", type=positive, default=None, help="frame rate of the output")
    add_arch(p)
    add_device(p)
    add_seed(p)
    add_quiet(p)


def _check(args: argparse.Namespace) -> tuple[Path, Path | None, bool]:
    """Every check the arguments allow, torch-free: ``(output, style file, optimises)``."""
    from ..checks import SYNTHETIC_PREFIX, check_clip_output

    out = check_clip_output(args.output)
    if args.blend > 1:
        raise NSTError(f"--blend {args.blend}: give a share from 0 to 1")
    optimises = args.method in ("optimize", "temporal") or (
        args.method == "blend" and args.model is None
    )
    if args.method == "fast" and args.model is None:
        raise NSTError("--method fast paints with a trained network: give --model "
                       "(nst paint --list shows the shipped ones)")  # fmt: skip
    style = None
    if optimises:
        if args.style is None:
            raise NSTError(f"--method {args.method} optimises every frame: give --style")
        from ..assets.examples import resolve_image

        style = resolve_image(args.style)
    if not str(args.input).startswith(SYNTHETIC_PREFIX) and not Path(args.input).is_file():
        raise NSTError(f"{args.input}: video file not found; check the path, or use "
                       f"{SYNTHETIC_PREFIX}chelsea for the synthetic clip")  # fmt: skip
    return out, style, optimises


def cmd_video(args: argparse.Namespace) -> None:
    """Check everything, read the clip, paint it frame by frame, write what was painted."""
    out, style, optimises = _check(args)
    from ..networks.painter import load_model
    from ..video import clips, temporal

    device = resolve_device(args)
    model = load_model(args.model, device) if args.model else None  # as nst paint --model
    clip = clips.load_clip(args.input, args.size, args.frames)
    if args.method in ("temporal", "blend"):
        clip = clip.with_estimated_flow(progress=not args.quiet)
    net, settings = None, None
    if optimises:
        net = load_network(args, device)
        settings = settings_from(args, net)
    on_frame = None
    if not out.suffix:

        def on_frame(k, frame):
            clips.save_frames(frame, out, start=k)

    painted = temporal.paint_clip(
        clip, args.method, net=net, style=style, settings=settings, model=model,
        blend=args.blend, temporal_weight=args.temporal_weight, progress=not args.quiet,
        on_frame=on_frame,
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

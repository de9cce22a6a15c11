"""The ``nst`` command: the kit's experiments from a terminal.

::

    nst stylize CONTENT STYLE -o OUT.png [--size 256 --steps 300 ...]
    nst stylize CONTENT STYLE[:W] [--style STYLE2[:W2] ...] [--style-mask M1 --style-mask M2]
        [--preserve-color luminance|histogram] [--scales 128,256,512] [--style-scale 0.5]
        [--rescaled-vgg]
    nst reconstruct-content IMAGE --layer relu4_2 -o OUT.png
    nst synthesize-texture IMAGE --layers relu1_1,relu2_1 -o OUT.png
    nst paint CONTENT --model MODEL [--style-mix 0.7,0.3] [--preserve-color luminance|histogram]
        -o OUT.png | nst paint --list
    nst paint CONTENT --style STYLE[:W] [--style S2:W2] --method adain|wct -o OUT.png
        [--alpha 0.6] [--preserve-color luminance|histogram] [--style-mask M1 ...]
    nst score IMAGE --content CONTENT --style STYLE
    nst train-style STYLE [STYLE ...] -o MODEL.safetensors [--images DIR --size 256 --steps 2000
        --batch 4 --lr 1e-3 --seed 0 --resume --from MODEL]
    nst train-decoder LAYER -o DECODER.safetensors [--images DIR] [--size] [--steps] ...
    nst video IN -o OUT.gif|OUT.mp4|FOLDER [--style S] [--method optimize|temporal|fast|blend]
        [--model M]   (IN: a video file or synthetic:<photo>)
    nst weights status | fetch [--arch vgg19|vgg19-caffe|vgg16]
    nst examples list | fetch [NAME ...]

CONTENT, STYLE and IMAGE are a file or the name of an example (``nst examples list``).
Every problem is reported as one line on stderr with a non-zero exit; ``--debug`` shows the
traceback. Output files are written only when a run succeeds, atomically, never over an
input, and never with NaN or infinite values. An option that the chosen mode does not read
(``nst paint --model M --alpha 0.5``) is a usage mistake, exit 2 (:mod:`.modes`).

One module per family of commands (:mod:`.optimise`, :mod:`.networks`, :mod:`.video`,
:mod:`.assets`), each with ``add_commands(commands)``; :mod:`.options` declares the shared
options once and resolves the device and the network; :mod:`.painting` holds ``nst paint``
and ``nst score``. Parsing and the argument checks import no torch, so a mistake is reported
in well under a second.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator, Sequence

from ..errors import NSTError
from . import assets, networks, optimise, photos, setup, video
from .modes import UsageError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: The families of commands, in the order ``nst --help`` lists them.
FAMILIES = (optimise, networks, photos, video, assets, setup)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (plus the exit status 2), not a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each sets ``handler``, the function that runs it."""
    parser = _Parser(prog="nst", description="Neural style transfer (Gatys, Ecker & Bethge 2015).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for family in FAMILIES:
        family.add_commands(commands)
    return parser


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
        with _one_line_warnings():
            args.handler(args)
    except optimise.DryRun as done:
        return 0 if done.fits else EXIT_ERROR
    except KeyboardInterrupt as err:
        print(f"nst: interrupted: {err}" if str(err) else "nst: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as err:  # a mode's foreign option, found after parsing: as argparse's
        if args.debug:
            raise
        print(f"nst {args.command}: error: {err} (see 'nst {args.command} --help')",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    except (NSTError, ValueError) as err:
        if args.debug:
            raise
        print(f"nst: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # an unexpected failure: still one line unless --debug
        if args.debug:
            raise
        from ..engine.memory import out_of_memory_message

        advice = out_of_memory_message(err)
        print(f"nst: error: {advice}" if advice else
              f"nst: unexpected {type(err).__name__}: {err} (rerun with --debug for details)",
              file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    return 0


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Library warnings as one line each (``nst: warning: ...``), not file, line and source."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        print(f"nst: warning: {category.__name__}: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield

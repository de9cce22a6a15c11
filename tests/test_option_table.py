"""Every option of every command that paints or trains, in every mode, changes what the
command makes or is refused in one line (issue 31, item 1).

For each command × mode × option of ``nst paint``, ``score``, ``train-style``,
``train-decoder``, ``video``, ``stylize``, ``reconstruct-content`` and
``synthesize-texture`` (read from the parser itself, so that a new option cannot be
missed), the command runs in-process once with the mode's base arguments and once with the
option added, on seeded random VGGs (``load_vgg`` patched), tiny models and 16–32 px
pictures, one or two steps. An option the command accepts must change what it makes: the
files it writes (pictures, clips, the tensors of models and checkpoints), which checkpoints
it writes, or what it prints; an option the mode does not read must be refused, in one line,
with nothing written. Which options each mode reads comes from the commands' own tables
(``nst_utils.cli.painting.PAINT``, ``nst_utils.cli.video.VIDEO``) or is listed here.

:data:`EXEMPT` lists the options whose effect cannot show on a CPU-only machine, each with
its reason and the test that checks it instead.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from nst_utils.assets.weights import ArchChoice
from nst_utils.cli import build_parser, main, optimise, options
from nst_utils.cli.modes import flag
from nst_utils.cli.painting import PAINT
from nst_utils.cli.video import VIDEO
from nst_utils.engine.precision import recommended_precision
from nst_utils.networks import training
from nst_utils.networks.painter import StyleNet, save_model
from nst_utils.paper import pipeline, vgg
from nst_utils.video import temporal

#: Options whose effect cannot show here, why, and the test that checks them instead.
EXEMPT = {
    "--device": "this machine has only a CPU, the default device: the option is read "
    "(a device that is not there is refused) but cpu changes nothing here; "
    "tests/test_cli_refusals.py::test_device_is_read_by_every_command_that_has_it",
    "--precision auto": "auto means bf16 where the CPU has it natively, else fp32: which one "
    "depends on the machine, so the table gives the concrete value that differs here; "
    "tests/test_cli_fast_style.py::test_train_paint_and_resume_end_to_end",
    "--debug": "a top-level option that shows tracebacks of failures only; "
    "tests/test_cli.py::test_debug_shows_the_traceback",
}
#: The value each option is given (per command where it differs).
VALUES = {
    "--style-mix": "0.2,0.8", "--size": "32", "--method": "adain", "--style-size": "16",
    "--alpha": "0.5", "--decoders": "relu2_1,relu1_1", "--content": "coffee", "--style": "brick",
    "--arch": "vgg19", "--pooling": "max", "--steps": "3", "--batch": "2", "--lr": "0.01",
    "--lr-schedule": "cosine", "--seed": "1", "--checkpoint-every": "1",
    "--content-weight": "5", "--style-weight": "0", "--tv-weight": "3",
    "--precision": "(other)", "--width": "0.5", "--frames": "3", "--temporal-weight": "1",
    "--blend": "0.2", "--fps": "3", "--optimizer": "adam",
    "--log": "{out}/run.json", "--save-every": "1", "--content-layers": "relu3_1",
    "--style-layers": "relu1_1,relu2_1", "--content-reduction": "paper", "--style-scale": "0.75",
    "--layer": "relu2_1", "--layers": "relu1_1,relu2_1", "--scales": "24,40",
}  # fmt: skip
PER_COMMAND = {("train-style", "--size"): "24", ("train-decoder", "--size"): "24",
               ("train-style", "--steps"): "4", ("train-decoder", "--steps"): "4",
               ("stylize", "--init"): "style", ("reconstruct-content", "--init"): "content",
               ("synthesize-texture", "--init"): "style"}  # fmt: skip
#: Values that are inputs of the module's fixture (per command where it differs).
INPUT_VALUES = {"--model": "model2", "--style-mask": "mask", "--images": "photos2",
                "--from": "start2", ("paint", "--model"): "model1"}  # fmt: skip
#: Options with several values to try.
CHOICES = {"--preserve-color": ["luminance", "histogram"]}
#: Options that choose the mode (their rows are the modes themselves).
SELECTORS = {"video": {"--method"}, "train-style": {"--resume"}, "train-decoder": {"--resume"},
             "stylize": {"--scales"}}
RESUMING = {"--steps", "--quiet", "--checkpoint-every", "--device", "--output"}


# --------------------------------------------------------------------------- the table


def _command_parser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _options(command: str) -> dict[str, argparse.Action]:
    """The command's options by their long name (``--output`` for ``-o``)."""
    actions = _command_parser(command)._actions
    return {max(a.option_strings, key=len): a for a in actions
            if a.option_strings and a.dest != "help"}  # fmt: skip


MODES = {
    "paint": ["--model", "--style", "--list"],
    "score": ["plain"],
    "train-style": ["new", "--from", "--resume", "--from --resume"],
    "train-decoder": ["relu1_1", "relu2_1", "--resume"],
    "video": ["optimize", "temporal", "fast", "blend --model", "blend"],
    "stylize": ["content", "noise", "--scales"],
    "reconstruct-content": ["noise"],
    "synthesize-texture": ["noise"],
}


#: Commands that neither paint nor train, outside the table: they fetch, list, check or set up.
NOT_IN_TABLE = {"weights", "examples", "photos", "doctor", "demo", "colab-cell"}


def test_every_command_is_in_the_table_or_said_not_to_be():
    """A new command must join the table (its modes) or :data:`NOT_IN_TABLE`."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) <= set(MODES) | NOT_IN_TABLE, set(sub.choices) - set(MODES)


def reads(command: str, mode: str) -> set[str]:
    """The options (long names) ``mode`` of ``command`` reads; the rest must be refused."""
    every = set(_options(command))
    if command == "paint":
        selector = {"--model": {"--model"}, "--style": {"--style"}, "--list": set()}[mode]
        return {_long(command, flag(d)) for d in PAINT.reads(mode)} | selector
    if command == "video":
        return {_long(command, flag(d)) for d in VIDEO.reads(mode) if d != "input"}
    if "--resume" in mode:
        return RESUMING & every
    if mode == "relu1_1":
        return every - {"--width"}
    if mode in ("content", "--scales"):  # nothing random to seed; --scales replaces --size
        return every - {"--seed"} - ({"--size"} if mode == "--scales" else set())
    return every


def _long(command: str, name: str) -> str:
    return "--output" if name == "-o" else name


def rows() -> list[tuple[str, str, str, str | None]]:
    """``(command, mode, option, value)`` for every option of every mode."""
    table = []
    for command, modes in MODES.items():
        for mode in modes:
            for name, action in _options(command).items():
                if name in ("--output", "--device") or name in SELECTORS.get(command, ()):
                    continue
                if (command, mode, name) == ("paint", "--list", "--list"):
                    continue
                values = CHOICES.get(name, [PER_COMMAND.get((command, name), VALUES.get(name))])
                if name == "--precision":
                    values = [_other_precision(action.default)]
                if action.nargs == 0:
                    values = [None]
                table += [(command, mode, name, value) for value in values]
    return table


def _other_precision(default: str) -> str:
    """The precision that differs from what ``default`` means on this machine."""
    resolved = recommended_precision("cpu") if default == "auto" else default
    return "fp32" if resolved == "bf16" else "bf16"


def test_every_option_is_in_the_table_or_exempt():
    """A new option must get a value here (or a reason to be exempt)."""
    for command in MODES:
        for name, action in _options(command).items():
            if name in ("--output", "--device") or action.nargs == 0:
                continue
            known = {*VALUES, *INPUT_VALUES, *CHOICES, *SELECTORS.get(command, ()),
                     *(name for cmd, name in PER_COMMAND if cmd == command)}
            assert name in known, (command, name)
    assert set(EXEMPT) == {"--device", "--precision auto", "--debug"}
    assert "--debug" in {s for a in build_parser()._actions for s in a.option_strings}


# --------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Tiny models, photos, a mask and a picture to score, made once."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    made = {}
    for name, styles, seed in (("model1", 1, 0), ("model2", 2, 1), ("start", 1, 2),
                               ("start2", 1, 3)):  # fmt: skip
        torch.manual_seed(seed)
        net = StyleNet(styles=styles, channels=4, blocks=0, skip=False)
        with torch.no_grad():
            for table in (p for n, p in net.named_parameters() if n.endswith((".gamma", ".beta"))):
                table.normal_(0.5, 0.5)
        made[name] = save_model(net, root / f"{name}.safetensors", {"command": name})
    for folder, stem in (("photos", "p"), ("photos2", "q")):  # other photos, other names
        (root / folder).mkdir()
        for i in range(2):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{stem}{i}.png")
        made[folder] = root / folder
    mask = np.zeros((24, 32), np.uint8)
    mask[:, :16] = 255
    Image.fromarray(mask).save(root / "mask.png")
    made["mask"] = root / "mask.png"
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(root / "pic.png")
    made["picture"] = root / "pic.png"
    return made


@pytest.fixture(autouse=True)
def random_networks(monkeypatch):
    """Seeded random VGGs instead of the real weights, and VGG-16 as the kit's choice."""
    cache = {}

    def load(arch=None, pooling="max", device=None, *, verbose=True):
        key = (arch or "vgg16", pooling)
        if key not in cache:
            torch.manual_seed(0)
            cache[key] = vgg.VGGFeatures(*key)
        return cache[key]

    def choose(args):
        return ArchChoice(getattr(args, "arch", None) or "vgg16", "test", "")

    monkeypatch.setattr(vgg, "load_vgg", load)
    monkeypatch.setattr(options, "choose_arch", choose)
    monkeypatch.setattr(optimise, "choose_arch", choose)


def base_args(command: str, mode: str, inputs: dict, out: Path) -> list[str]:
    """The arguments of ``mode`` of ``command`` without the option under test."""
    train = ["--images", str(inputs["photos"]), "--size", "16", "--batch", "1"]
    args = {
        ("paint", "--model"): ["paint", "chelsea", "--model", str(inputs["model2"]), "-o",
                               str(out / "p.png"), "--size", "24"],
        ("paint", "--style"): ["paint", "chelsea", "--style", "swirls", "--decoders", "relu1_1",
                               "-o", str(out / "p.png"), "--size", "24"],
        ("paint", "--list"): ["paint", "--list"],
        ("score", "plain"): ["score", str(inputs["picture"]), "--content", "chelsea", "--style",
                             "swirls"],
    }.get((command, mode))  # fmt: skip
    if args is not None:
        return args
    if command in ("stylize", "reconstruct-content", "synthesize-texture"):
        image = {"stylize": ["chelsea", "swirls"], "reconstruct-content": ["chelsea"],
                 "synthesize-texture": ["swirls"]}[command]  # fmt: skip
        size = ["--scales", "24,32"] if mode == "--scales" else ["--size", "24"]
        init = ["--init", "noise"] if mode == "noise" and command == "stylize" else []
        return [command, *image, "-o", str(out / "p.png"), *size, "--steps", "2", *init]
    if command == "train-style":
        args = ["train-style", "swirls", "-o", str(out / "m.safetensors"), *train, "--steps", "2"]
        args += ["--from", str(inputs["start"])] if "--from" in mode else []
    elif command == "train-decoder":
        layer = "relu2_1" if mode == "--resume" else mode
        args = ["train-decoder", layer, "-o", str(out / "d.safetensors"), *train, "--steps", "2"]
    else:
        method = mode.split()[0]
        args = ["video", "synthetic:coffee", "-o", str(out / "v.gif"), "--size", "24",
                "--frames", "2", "--method", method]  # fmt: skip
        network = mode in ("fast", "blend --model")
        # two steps: one L-BFGS step from the frame is the style's gradient direction alone
        args += ["--model", str(inputs["model1"])] if network else ["--style", "swirls",
                                                                    "--steps", "2"]  # fmt: skip
    if "--resume" in mode:
        args = [*args[: args.index("--steps")], "--steps", "3", *args[args.index("--steps") + 2 :],
                "--resume"]  # fmt: skip
    return args


def with_option(args: list[str], action: argparse.Action, name: str, value) -> list[str]:
    """``args`` with ``name`` given: a switch added, a repeatable option added once more, a
    value replaced where ``args`` has the option already."""
    if value is None:
        return [*args, name]
    names = set(action.option_strings)
    for i, arg in enumerate(args):
        if arg in names and not isinstance(action, argparse._AppendAction):
            return [*args[: i + 1], value, *args[i + 2 :]]
    return [*args, name, value]


def prepare(command: str, mode: str, inputs: dict, out: Path, seeds: Path) -> None:
    """A resumed mode needs a checkpoint: made once (one step) into ``seeds``, copied to ``out``."""
    if "--resume" not in mode:
        return
    kept = seeds / mode.replace(" ", "_") / command
    if not kept.exists():
        kept.mkdir(parents=True)
        args = base_args(command, mode, inputs, kept)
        args = [a for a in args if a != "--resume"]
        args[args.index("--steps") + 1] = "1"
        assert main([*args, "--quiet"]) == 0
        for path in kept.iterdir():
            if "checkpoint" not in path.name:
                path.unlink()
    for path in kept.iterdir():
        shutil.copy(path, out / path.name)


def observe(code: int, printed: str, out: Path, saves: list) -> tuple:
    """What a run made: its files (pictures by bytes, networks by their tensors), which
    checkpoints it wrote and the frames or pictures it painted (``saves``: a GIF or PNG
    rounds them to 8 bits), and what it printed (times, and the folder, left out)."""
    files = {}
    for path in sorted(out.rglob("*")):
        if path.suffix == ".safetensors":
            with safe_open(path, framework="pt") as handle:
                names = list(handle.keys())
                files[path.name] = {k: handle.get_tensor(k).numpy().tobytes() for k in names}
        elif path.is_file():
            files[path.name] = path.read_bytes()
    printed = printed.replace(str(out), "OUT")
    printed = re.sub(r"[\d.]+ (s\)|s,|frames/s)", r"# \1", printed)
    return code, files, list(saves), printed


@pytest.fixture(scope="module")
def baselines() -> dict:
    return {}


@pytest.mark.parametrize(("command", "mode", "name", "value"), rows(),
                         ids=lambda v: str(v))  # fmt: skip
def test_an_option_changes_the_result_or_is_refused(command, mode, name, value, inputs,
                                                    baselines, tmp_path, tmp_path_factory,
                                                    monkeypatch, capsys):  # fmt: skip
    """The table: ``name`` given to ``mode`` of ``command`` either changes what it makes
    (exit 0) or is refused (one line, nothing written)."""
    given = INPUT_VALUES.get((command, name), INPUT_VALUES.get(name))
    value = str(inputs[given]) if given else value
    saves: list = []  # the checkpoints' steps; painted frames and pictures before rounding
    original, paint_clip, optimised = training.save_checkpoint, temporal.paint_clip, pipeline.run
    monkeypatch.setattr(training, "save_checkpoint",
                        lambda path, model, opt, step, *a, **k: saves.append(step) or
                        original(path, model, opt, step, *a, **k))  # fmt: skip

    def painted(*args, **kwargs):
        result = paint_clip(*args, **kwargs)
        saves.append(result.frames.numpy().tobytes())
        return result

    def optimisation(*args, **kwargs):
        result = optimised(*args, **kwargs)
        saves.append(result.image.numpy().tobytes())
        return result

    monkeypatch.setattr(temporal, "paint_clip", painted)
    monkeypatch.setattr(pipeline, "run", optimisation)
    seeds = tmp_path_factory.getbasetemp() / "seeds"

    def run(args: list[str], out: Path) -> tuple:
        prepare(command, mode, inputs, out, seeds)
        capsys.readouterr()
        saves.clear()
        before = {p.name for p in out.iterdir()}
        code = main(args)
        printed, err = capsys.readouterr()
        if code != 0:
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
            assert "unexpected" not in err, err
            assert {p.name for p in out.iterdir()} == before, "a refused run wrote something"
        return observe(code, printed, out, saves), err

    if (command, mode) not in baselines:
        out = tmp_path_factory.mktemp("base")
        baselines[command, mode], err = run(base_args(command, mode, inputs, out), out)
        assert baselines[command, mode][0] == 0, err
    base = baselines[command, mode]
    action = _options(command)[name]
    out = tmp_path / "out"
    out.mkdir()
    value = value.replace("{out}", str(out)) if value else value
    args = with_option(base_args(command, mode, inputs, out), action, name, value)
    seen, err = run(args, out)
    if name in reads(command, mode):
        assert seen[0] == 0, f"{name} {value} was refused: {err}"
        assert seen[1:] != base[1:], f"{name} {value} was accepted but changed nothing"
    else:
        assert seen[0] in (1, 2), f"{name} {value} was accepted: {mode} does not read it"

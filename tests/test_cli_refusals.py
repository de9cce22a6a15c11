"""Issue 31, one test per kind of failure: options that belong to another mode, inputs never
overwritten, no bad result reported as success, plain sentences for users' mistakes,
messages that name the right thing, records that tell the truth. Every example of the
issue is here, at tiny sizes."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst_utils.assets import images
from nst_utils.assets.examples import resolve_image
from nst_utils.assets.weights import ArchChoice
from nst_utils.beyond import color
from nst_utils.cli import main, options
from nst_utils.errors import NSTError
from nst_utils.networks import decoder, painter
from nst_utils.networks.painter import StyleNet, load_model, save_model
from nst_utils.paper import vgg


def nst(capsys, *argv) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``nst ARGV`` in-process (argparse's usage mistakes
    exit by SystemExit, as the console script does)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "unexpected" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def model(tmp_path) -> Path:
    """A tiny single-style network whose style tables are far from the identity."""
    torch.manual_seed(0)
    net = StyleNet(channels=4, blocks=0, skip=False)
    with torch.no_grad():
        for name, table in net.named_parameters():
            if name.endswith((".gamma", ".beta")):
                table.normal_(0.5, 0.5)
    return save_model(net, tmp_path / "m.safetensors", {"command": "test"})


@pytest.fixture
def random_vgg(monkeypatch):
    """Seeded random VGGs instead of the real weights (what is tested is the command)."""

    def load(arch=None, pooling="max", device=None, *, verbose=True):
        torch.manual_seed(0)
        return vgg.VGGFeatures(arch or "vgg16", pooling)

    monkeypatch.setattr(vgg, "load_vgg", load)
    monkeypatch.setattr(options, "choose_arch",
                        lambda args: ArchChoice(args.arch or "vgg16", "test", ""))  # fmt: skip


# --------------------------------------------------------------------------- 1. modes


@pytest.mark.parametrize(("argv", "needles"), [
    (["paint", "chelsea", "--model", "M", "--alpha", "0.5"],
     ["--alpha is for --style; a trained network has no strength setting"]),
    (["paint", "chelsea", "--model", "M", "--method", "adain"], ["--method is for --style"]),
    (["paint", "chelsea", "--model", "M", "--style-size", "64"], ["--style-size is for --style"]),
    (["paint", "chelsea", "--model", "M", "--style-mask", "coffee"],
     ["--style-mask is for --style"]),
    (["paint", "chelsea", "--model", "M", "--decoders", "relu1_1"], ["--decoders is for --style"]),
    (["paint", "chelsea", "--style", "swirls", "--style-mix", "1,1"],
     ["--style-mix is for --model", "--style NAME:WEIGHT"]),
    (["paint", "--list", "--size", "64"], ["--size", "--list prints the shipped models"]),
    (["paint", "--list", "chelsea"], ["CONTENT", "--list"]),
    (["paint", "--list", "--model", "M"], ["--list", "--model"]),
    (["video", "synthetic:chelsea", "--method", "fast", "--model", "M", "--steps", "3"],
     ["--steps is for", "one pass"]),
    (["video", "synthetic:chelsea", "--method", "fast", "--model", "M", "--style", "swirls"],
     ["--style is for", "its own style"]),
    (["video", "synthetic:chelsea", "--method", "fast", "--model", "M", "--arch", "vgg16"],
     ["--arch is for"]),
    (["video", "synthetic:chelsea", "--style", "swirls", "--model", "M"],
     ["--model is for --method fast and blend"]),
    (["video", "synthetic:chelsea", "--method", "optimize", "--style", "swirls",
      "--temporal-weight", "5"], ["--temporal-weight is for --method temporal"]),
    (["video", "synthetic:chelsea", "--style", "swirls", "--blend", "0.5"],
     ["--blend is for --method blend"]),
    (["train-decoder", "relu1_1", "--width", "0.5"], ["--width is for relu2_1", "relu1_1"]),
    (["stylize", "chelsea", "swirls", "--seed", "3"], ["--seed is for --init noise"]),
    (["stylize", "chelsea", "swirls", "--scales", "64,128", "--size", "64"],
     ["--size is for a run at one size", "--scales"]),
    (["stylize", "chelsea", "swirls", "--dry-run", "--log", "run.json"],
     ["--log is for a run", "--dry-run"]),
    (["reconstruct-content", "chelsea", "--init", "style"], ["--init", "invalid choice"]),
    (["synthesize-texture", "swirls", "--init", "content"], ["--init", "invalid choice"]),
])  # fmt: skip
def test_an_option_of_another_mode_is_one_usage_line(tmp_path, capsys, argv, needles):
    out = tmp_path / ("d.safetensors" if argv[0] == "train-decoder" else
                      "v.gif" if argv[0] == "video" else "x.png")  # fmt: skip
    code, _, err = nst(capsys, *argv, *(["-o", out] if "--list" not in argv else []))
    assert code == 2
    one_line(err, f"nst {argv[0]}: error:", *needles)
    assert list(tmp_path.iterdir()) == []


def test_mode_mistakes_are_found_before_torch_is_imported(tmp_path):
    """As stylize's argument checks: a foreign option costs no torch import."""
    probe = ("import sys\nfrom nst_utils.cli import main\n"
             f"status = main(['paint', 'chelsea', '--model', 'M', '--alpha', '1', '-o', "
             f"{str(tmp_path / 'x.png')!r}])\n"
             "print('torch' in sys.modules)\nsys.exit(status)\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout.strip() == "False", done.stderr


def test_preserve_color_works_with_a_trained_network(tmp_path, capsys, model):
    """Luminance: the painting's luminance with the photo's chroma, exactly; histogram: the
    photo's colour mean (and covariance) on the painting."""
    photo = images.load_image("chelsea", 32)
    painted = {}
    for mode in (None, "luminance", "histogram"):
        out = tmp_path / f"{mode}.png"
        extra = ["--preserve-color", mode] if mode else []
        code, _, err = nst(capsys, "paint", "chelsea", "--model", model, "--size", "32", "-o",
                           out, "--quiet", *extra)  # fmt: skip
        assert code == 0, err
        painted[mode] = images.load_image(out)

    def chroma_gap(picture):
        chroma = color.rgb_to_yiq(picture)[:, 1:] - color.rgb_to_yiq(photo)[:, 1:]
        return float(chroma.abs().mean())

    def mean_gap(picture):
        return float((picture.mean(dim=(2, 3)) - photo.mean(dim=(2, 3))).abs().max())

    assert chroma_gap(painted["luminance"]) < 0.3 * chroma_gap(painted[None])
    luma = color.luminance
    assert (luma(painted["luminance"]) - luma(painted[None])).abs().mean() < 0.02
    assert mean_gap(painted["histogram"]) < 0.3 * mean_gap(painted[None])


def test_style_mix_needs_a_network_of_several_styles(tmp_path, capsys, model):
    code, _, err = nst(capsys, "paint", "chelsea", "--model", model, "--style-mix", "1",
                       "-o", tmp_path / "x.png")  # fmt: skip
    assert code == 2
    one_line(err, "--style-mix is for a network of several styles", "has one")


# --------------------------------------------------------------------------- 2. inputs


def test_video_never_overwrites_its_clip_style_or_model(tmp_path, capsys, model):
    style = tmp_path / "painting.gif"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(style)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "frame_0001.png").write_bytes(b"an input the frames would replace")
    cases = [
        (["synthetic:coffee", "--style", style, "-o", style], "refusing to overwrite an input"),
        (["synthetic:coffee", "--style", frames / "frame_0001.png", "-o", frames],
         "would overwrite this input"),
    ]  # fmt: skip
    if __import__("importlib").util.find_spec("av") is not None:
        from nst_utils.video import clips

        clip = clips.write_clip(clips.synthetic_clip("coffee", 3, 32).frames, tmp_path / "c.mp4")
        cases.append((["c.mp4", "--method", "fast", "--model", model, "-o", clip],
                      "refusing to overwrite an input"))  # fmt: skip
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for argv, needle in cases:
        argv = [str(tmp_path / a) if a == "c.mp4" else a for a in argv]
        code, _, err = nst(capsys, "video", *argv, "--size", "32", "--frames", "2")
        assert code == 1
        one_line(err, needle)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_training_never_overwrites_the_model_it_starts_from(tmp_path, capsys, model):
    code, _, err = nst(capsys, "train-style", "swirls", "--from", model, "-o", model)
    assert code == 1
    one_line(err, "refusing to overwrite an input")


@pytest.mark.parametrize("case", ["log is input", "log is output", "snapshot is input"])
def test_stylize_never_overwrites_an_input_with_its_log_or_snapshots(tmp_path, capsys,
                                                                      monkeypatch, case):
    """Checked before the network loads: ``load_vgg`` fails the test if it is reached."""
    monkeypatch.setattr(vgg, "load_vgg", lambda *a, **k: pytest.fail("work began"))
    photo = tmp_path / "out-00002.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    out = tmp_path / "out.png"
    extra = {"log is input": ["--log", photo], "log is output": ["--log", out],
             "snapshot is input": ["--save-every", "2"]}[case]  # fmt: skip
    code, _, err = nst(capsys, "stylize", photo, "swirls", "-o", out, "--size", "32", *extra)
    assert code == 1
    one_line(err, "overwrite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-00002.png"]


# --------------------------------------------------------------------------- 3. bad results


def test_a_model_with_nan_weights_is_refused_without_warnings(tmp_path, capsys, model):
    net = load_model(model)
    with torch.no_grad():
        net.out.bias.fill_(float("nan"))
    meta = {"kind": painter.KIND, "architecture": net.architecture(), "style_names": ["s"],
            "record": {}}  # fmt: skip
    from nst_utils.assets.model_files import save_network

    bad = save_network(net, tmp_path / "nan.safetensors", meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw RuntimeWarning would fail the run
        code, _, err = nst(capsys, "paint", "chelsea", "--model", bad, "-o", tmp_path / "x.png")
    assert code == 1
    one_line(err, "NaN or infinite", "out.bias")
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(NSTError, match="NaN or infinite"):
        save_model(net, tmp_path / "again.safetensors", {})


def test_a_picture_with_nan_is_not_saved(tmp_path):
    picture = torch.rand(1, 3, 8, 8)
    picture[0, 0, 0, 0] = float("inf")
    with pytest.raises(NSTError, match="NaN or infinite values"):
        images.save_image(picture, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_a_decoder_with_nan_weights_is_refused(tmp_path):
    broken = decoder.Decoder("relu1_1", "vgg16", "avg")
    with torch.no_grad():
        broken.body[-1].bias.fill_(float("nan"))
    with pytest.raises(NSTError, match="NaN or infinite"):
        decoder.save_decoder(broken, tmp_path / "d.safetensors")
    from nst_utils.assets.model_files import save_network

    path = save_network(broken, tmp_path / "d.safetensors",
                        {"kind": decoder.KIND, "architecture": broken.architecture()})  # fmt: skip
    with pytest.raises(NSTError, match="damaged decoder"):
        decoder.load_decoder(path)


@pytest.mark.parametrize("output", ["frames", "clip.gif"])
def test_a_video_stops_at_a_broken_frame_and_removes_what_it_wrote(tmp_path, capsys, model,
                                                                   monkeypatch, output):
    from nst_utils.video import temporal

    calls = []

    def breaks_at_second(network):
        def paint(frame, previous, mask):
            calls.append(1)
            return frame * (float("nan") if len(calls) == 2 else 1.0)

        return paint

    monkeypatch.setattr(temporal, "_network_painter", breaks_at_second)
    code, _, err = nst(capsys, "video", "synthetic:coffee", "--method", "fast", "--model", model,
                       "--size", "32", "--frames", "3", "--quiet", "-o",
                       tmp_path / output)  # fmt: skip
    assert code == 1
    line = one_line(err, "frame 2 of 3", "NaN")
    assert ("removed the 1 frame(s)" in line) if output == "frames" else "nothing written" in line
    assert [p for p in tmp_path.rglob("*") if p.suffix in (".png", ".gif")] == []


def test_library_warnings_are_one_line(tmp_path, capsys, monkeypatch):
    from nst_utils.cli import painting

    def warns():
        warnings.warn("first line\nsecond line", RuntimeWarning, stacklevel=1)

    monkeypatch.setattr(painting, "_list_models", warns)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = nst(capsys, "paint", "--list")
    assert code == 0
    assert err == "nst: warning: RuntimeWarning: first line second line\n"


# --------------------------------------------------------------------------- 4. sentences


def test_sizes_too_small_say_the_smallest_that_works(tmp_path, capsys, model):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((2, 20000, 3), np.uint8)).save(wide)
    cases = [
        (["paint", "chelsea", "--model", model, "--size", "2"],
         ["a trained network needs at least 5 px", "use --size 7 or more"]),
        (["paint", wide, "--model", model, "--size", "256"], ["too narrow", "crop it"]),
        (["paint", "chelsea", "--style", "swirls", "--decoders", "relu2_1", "--style-size", "2"],
         ["the relu2_1 decoder needs at least 4 px", "use --style-size 4 or more"]),
        (["video", "synthetic:chelsea", "--style", "swirls", "--size", "8"],
         ["8x6 px at --size 8", "use --size 21 or more"]),
        (["video", "synthetic:chelsea", "--method", "fast", "--model", model, "--size", "4"],
         ["a trained network", "use --size 7 or more"]),
        (["train-style", "swirls", "--size", "8"], ["at least 16 px", "--size 16"]),
        (["train-decoder", "relu3_1", "--size", "4"], ["at least 8 px", "--size 8"]),
    ]  # fmt: skip
    for argv, needles in cases:
        out = tmp_path / {"paint": "x.png", "video": "v.gif"}.get(argv[0], "m.safetensors")
        code, _, err = nst(capsys, *argv, "-o", out)
        assert code == 1
        assert "--scales" not in one_line(err, *needles)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tiny)
    code, _, err = nst(capsys, "score", tiny, "--content", "chelsea", "--style", "swirls")
    assert code == 1
    one_line(err, "8x8 px", "at least 16 px")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "tiny.png", "wide.png"]


@pytest.mark.parametrize("where", ["/proc", "/sys"])
def test_outputs_where_nothing_can_be_written(tmp_path, capsys, model, where):
    if not Path(where).is_dir():
        pytest.skip(f"{where} is not here")
    cases = [
        ["paint", "chelsea", "--model", model, "-o", f"{where}/x.png"],
        ["video", "synthetic:coffee", "--method", "fast", "--model", model, "-o",
         f"{where}/v.gif"],
        ["train-style", "swirls", "-o", f"{where}/m.safetensors"],
        ["stylize", "chelsea", "swirls", "-o", tmp_path / "x.png", "--log", f"{where}/l.json"],
    ]  # fmt: skip
    for argv in cases:
        code, _, err = nst(capsys, *argv)
        assert code == 1
        one_line(err, f"nothing can be written in {where}")
    assert list(tmp_path.iterdir()) == [model]


def test_a_log_under_a_file_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(vgg, "load_vgg", lambda *a, **k: pytest.fail("work began"))
    (tmp_path / "file").write_text("x")
    code, _, err = nst(capsys, "stylize", "chelsea", "swirls", "-o", tmp_path / "x.png",
                       "--log", tmp_path / "file" / "run.json")  # fmt: skip
    assert code == 1
    one_line(err, "a parent of the output path is a file")
    assert not (tmp_path / "x.png").exists()


def test_a_model_file_without_a_metadata_field_is_named(tmp_path, capsys, model):
    import json

    from safetensors.torch import save_file

    net = load_model(model)
    meta = {"kind": painter.KIND, "architecture": net.architecture(), "record": {}}
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, tmp_path / "n.safetensors", metadata={"nst": json.dumps(meta)})
    code, _, err = nst(capsys, "paint", "chelsea", "--model", tmp_path / "n.safetensors", "-o",
                       tmp_path / "x.png")  # fmt: skip
    assert code == 1
    one_line(err, "lacks 'style_names'", "nst train-style")


def test_a_folder_given_for_a_file_is_called_a_folder(tmp_path, capsys, model):
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [
        ["paint", folder, "--model", model, "-o", tmp_path / "x.png"],
        ["paint", "chelsea", "--model", folder, "-o", tmp_path / "x.png"],
        ["paint", "chelsea", "--style", folder, "-o", tmp_path / "x.png"],
        ["score", folder, "--content", "chelsea", "--style", "swirls"],
        ["video", folder, "--method", "fast", "--model", model, "-o", tmp_path / "v.gif"],
        ["stylize", "chelsea", "swirls", "-o", tmp_path / "x.png", "--log", folder],
        ["train-style", folder, "-o", tmp_path / "m.safetensors"],
        ["train-style", "swirls", "-o", folder],
        ["paint", "chelsea", "--model", model, "-o", folder],
    ]
    for argv in cases:
        code, _, err = nst(capsys, *argv)
        assert code == 1
        assert "not found" not in one_line(err, "is a folder")


def test_a_truncated_video_is_called_damaged(tmp_path, capsys, model):
    pytest.importorskip("av")
    from nst_utils.video import clips

    whole = clips.write_clip(clips.synthetic_clip("coffee", 4, 32).frames, tmp_path / "c.mp4")
    data = whole.read_bytes()
    for cut in (len(data) // 2, 40):
        (tmp_path / "t.mp4").write_bytes(data[:cut])
        code, _, err = nst(capsys, "video", tmp_path / "t.mp4", "--method", "fast", "--model",
                           model, "-o", tmp_path / "v.gif")  # fmt: skip
        assert code == 1
        one_line(err, "damaged or truncated")


@pytest.mark.parametrize(("argv", "needle", "status"), [
    (["paint", "chelsea", "--style", "swirls", "--alpha", "2", "-o", "x.png"],
     "give a share from 0 to 1", 2),
    (["video", "synthetic:coffee", "--method", "blend", "--style", "swirls", "--blend", "1.5",
      "-o", "v.gif"], "give a share from 0 to 1", 2),
    (["video", "synthetic:coffee", "--method", "fast", "--model", "M", "--fps", "0.0001", "-o",
      "v.gif"], "give a frame rate from 0.1 to 100", 2),
    (["video", "synthetic:no_such_photo", "--style", "swirls", "-o", "v.gif"],
     "no_such_photo", 1),
])  # fmt: skip
def test_numbers_out_of_range_are_refused_before_any_work(tmp_path, capsys, monkeypatch, argv,
                                                          needle, status):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(vgg, "load_vgg", lambda *a, **k: pytest.fail("work began"))
    code, _, err = nst(capsys, *argv)
    assert code == status
    one_line(err, needle)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 5. words


def test_messages_name_the_right_thing(tmp_path, capsys):
    code, _, err = nst(capsys, "paint", "chelsea", "-o", tmp_path / "x.png")
    assert code == 2
    one_line(err, "--model", "--style")
    code, _, err = nst(capsys, "paint", "chelsea", "--style", "swirls", "--decoders", "", "-o",
                       tmp_path / "x.png")  # fmt: skip
    assert code == 2
    assert "relu4_2" not in one_line(err, "decoder", "relu1_1")
    code, _, err = nst(capsys, "video", "synthetic:coffee", "--style", "swirls", "--frames", "1",
                       "-o", tmp_path / "v.gif")  # fmt: skip
    assert code == 2
    assert "frame(s)" not in one_line(err, "--frames", "a clip needs at least 2 frames")
    damaged = tmp_path / "d.safetensors"
    damaged.write_bytes(b"not a decoder")
    code, _, err = nst(capsys, "paint", "chelsea", "--style", "swirls", "--decoders", damaged,
                       "-o", tmp_path / "x.png")  # fmt: skip
    assert code == 1
    assert "nst_utils" not in one_line(err, "nst train-decoder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.safetensors"]


# --------------------------------------------------------------------------- 6. records


TRAIN = ["--size", "16", "--batch", "1", "--quiet", "--arch", "vgg16"]


def test_from_and_resume_record_what_the_run_did(tmp_path, capsys, model, random_vgg):
    out = tmp_path / "on.safetensors"
    code, _, err = nst(capsys, "train-style", "swirls", "-o", out, "--from", model, "--steps",
                       "1", *TRAIN)  # fmt: skip
    assert code == 0, err
    out.unlink()  # as if Ctrl-C had left only the checkpoint
    code, _, err = nst(capsys, "train-style", "swirls", "-o", out, "--steps", "2", "--resume",
                       *TRAIN)  # fmt: skip
    assert code == 1
    one_line(err, "started --from", "the same --from")
    code, _, err = nst(capsys, "train-style", "swirls", "-o", out, "--from", model, "--steps",
                       "2", "--resume", *TRAIN)  # fmt: skip
    assert code == 0, err
    record = load_model(out).record
    assert record["started_from"]["model"] == str(model) and record["steps"] == 2
    assert record["settings"]["started_from"] == str(model.resolve())
    code, _, err = nst(capsys, "train-style", "swirls", "-o", out, "--from", model, "--steps",
                       "1", "--resume", *TRAIN)  # fmt: skip
    assert code == 1
    one_line(err, "already trained 2 steps", "--steps 2 or more")


def test_from_cannot_resume_a_run_that_started_afresh(tmp_path, capsys, model, random_vgg):
    out = tmp_path / "new.safetensors"
    code, _, err = nst(capsys, "train-style", "swirls", "-o", out, "--steps", "1", *TRAIN)
    assert code == 0, err
    code, _, err = nst(capsys, "train-style", "swirls", "-o", out, "--from", model, "--steps",
                       "2", "--resume", *TRAIN)  # fmt: skip
    assert code == 1
    one_line(err, "started from new weights", "without --from")
    assert load_model(out).record.get("started_from") is None


# --------------------------------------------------------------------------- exemptions


@pytest.mark.parametrize("argv", [
    ["paint", "chelsea", "--model", "{model}", "-o", "{out}.png"],
    ["paint", "chelsea", "--style", "swirls", "-o", "{out}.png"],
    ["score", "{photo}", "--content", "chelsea", "--style", "swirls"],
    ["train-style", "swirls", "-o", "{out}.safetensors"],
    ["video", "synthetic:coffee", "--method", "fast", "--model", "{model}", "-o", "{out}.gif"],
    ["video", "synthetic:coffee", "--style", "swirls", "-o", "{out}.gif"],
])  # fmt: skip
def test_device_is_read_by_every_command_that_has_it(tmp_path, capsys, model, argv):
    """The table's exemption: cpu is the only device here, so the option is shown to be read
    by a device that is not there."""
    values = {"model": model, "out": tmp_path / "out", "photo": resolve_image("chelsea")}
    code, _, err = nst(capsys, *[a.format(**values) for a in argv], "--device", "nosuch")
    assert code == 1
    one_line(err, "device 'nosuch' is not usable here")

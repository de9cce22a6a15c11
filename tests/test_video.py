"""Video: the synthetic clip's exact flow, warping, reliability, warping error, the temporal
term, painting clips, and writing them."""

from __future__ import annotations

import builtins
import importlib.util

import pytest
import torch
from PIL import Image

from nst_utils.errors import NSTError
from nst_utils.paper.pipeline import Settings, run
from nst_utils.video import clips, flow, temporal


@pytest.fixture(scope="module")
def clip() -> clips.Clip:
    return clips.synthetic_clip("chelsea", frames=8, size=96)


def _masked_mean_abs(a, b, mask):
    return float(((a - b).abs() * mask).sum() / (mask.sum() * a.shape[1]))


def test_exact_flow_warps_each_frame_onto_the_next(clip):
    """Frame k-1 moved along the true backward flow is frame k wherever the mask trusts it:
    the residue is bilinear resampling (measured 0.006 mean), ten times below what a still
    camera (zero flow) leaves."""
    warped = flow.warp(clip.frames[:-1], clip.backward)
    masks = clip.masks
    along_flow = _masked_mean_abs(warped, clip.frames[1:], masks)
    standing_still = _masked_mean_abs(clip.frames[:-1], clip.frames[1:], masks)
    assert along_flow < 0.015
    assert standing_still > 5 * along_flow


def test_the_mask_drops_what_was_hidden_or_outside(clip):
    """Zooming out and panning bring new picture in at the borders, and the ball uncovers the
    background behind it: all are masked, and most of the frame is trusted."""
    masks = clip.masks
    assert masks.shape == (7, 1, 72, 96)
    assert 0.75 < float(masks.mean()) < 0.98
    assert float(masks[..., -2:].mean()) == 0  # the camera pans right: new picture comes in
    assert float(masks[..., 0, :].mean()) == 0  # zooming out: and at the top
    # where the ball was in frame k-1 but is not in frame k: background seen for the first time
    _, before, _ = clips._ball(3, 8, (72, 96))
    _, after, _ = clips._ball(4, 8, (72, 96))
    uncovered = (before[0, 0] > 0.99) & (after[0, 0] < 0.01)
    assert uncovered.sum() > 20
    assert float(masks[3, 0][uncovered].mean()) < 0.05


def test_consistent_flows_pass_and_contradicting_ones_fail():
    shift = torch.zeros(1, 2, 16, 16)
    shift[:, 0] = 3.0
    assert flow.consistent(-shift, shift).all()  # there and back again
    assert not flow.consistent(-shift, -shift).any()  # both say "to the left": 6 px apart
    assert flow.inside(-shift)[..., :, :3].sum() == 0  # came from left of the frame
    assert flow.inside(-shift)[..., :, 3:].all()


def test_warp_with_whole_pixel_flow_moves_pixels_exactly():
    image = torch.rand(1, 3, 10, 12)
    shift = torch.zeros(1, 2, 10, 12)
    shift[:, 0], shift[:, 1] = -2.0, -1.0  # each pixel came from 2 left, 1 up
    moved = flow.warp(image, shift)
    torch.testing.assert_close(moved[..., 1:, 2:], image[..., :-1, :-2])


def test_warping_error_is_zero_for_a_consistent_clip_and_grows_with_flicker(clip):
    """Frames that follow the flow exactly score 0; noise added independently to each frame
    (flicker) scores more, and more noise more."""
    consistent = [clip.frames[0:1]]
    for k in range(1, len(clip)):
        consistent.append(clip.warped_previous(k, consistent[-1]))
    assert flow.warping_error(consistent, clip.backward, clip.masks) == pytest.approx(0, abs=1e-10)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(clip.frames.shape, generator=generator)
    errors = [clip.warping_error(torch.cat(consistent) + a * noise) for a in (0.02, 0.05, 0.1)]
    assert 0 < errors[0] < errors[1] < errors[2]
    # independent noise of std a: 3 channels * a^2 from frame k, and up to as much again from
    # frame k-1, less where warping interpolates (a bilinear mix of 4 pixels keeps >= 1/4)
    assert 3.75 * 0.1**2 * 0.9 < errors[2] < 6 * 0.1**2 * 1.1


def test_warping_error_counts_only_reliable_pixels(clip):
    frames = clip.frames.clone()
    masks = clip.masks
    spoilt = frames.clone()
    spoilt[-1] += 0.5 * (1 - masks[-1])  # change only what the last mask distrusts
    assert (spoilt != frames).any()
    assert clip.warping_error(spoilt) == pytest.approx(clip.warping_error(frames), rel=1e-5)
    with pytest.raises(NSTError, match="need 2 flows"):
        flow.warping_error(frames[:3], clip.backward[:1], masks[:1])


def test_temporal_loss_and_its_gradient():
    """L = 1/D sum c (x - w)^2: dL/dx = 2 c (x - w) / D, and nothing where c = 0."""
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    warped = torch.rand(1, 3, 8, 8)
    mask = (torch.rand(1, 1, 8, 8) > 0.5).float()
    loss = temporal.temporal_loss(x, warped, mask)
    loss.backward()
    expected = 2 * mask * (x.detach() - warped) / x.numel()
    torch.testing.assert_close(x.grad, expected)
    assert float(loss) == pytest.approx(float((mask * (x.detach() - warped) ** 2).mean()))
    assert (x.grad * (1 - mask)).abs().sum() == 0


def test_the_temporal_term_pulls_the_optimisation_to_the_warped_frame(random_vgg16, clip):
    """The same frame, with and without a temporal target: with it, the result ends closer to
    the target inside the mask, and the history logs the term."""
    frame, style = clip.frames[1:2], clip.frames[5:6]
    target = temporal.TemporalTerm(torch.full_like(frame, 0.5), clip.masks[0:1], weight=1e3)
    settings = Settings(steps=5, style_weight=1e2)
    plain = run(random_vgg16, frame, style, settings, progress=False)
    pulled = run(random_vgg16, frame, style, settings, progress=False, extensions=[target])
    assert "temporal" in pulled.history[0] and "temporal" not in plain.history[0]
    distance = [_masked_mean_abs(r.image, target.warped, target.mask) for r in (plain, pulled)]
    assert distance[1] < 0.5 * distance[0]


def test_temporal_painting_flickers_less_than_frame_by_frame(random_vgg16, clip):
    """On a random network (arithmetic, not pictures): the temporal method's frames follow
    the flow better than frames optimised alone, and blending lowers the error of those."""
    settings = Settings(steps=4, style_weight=1e2)
    short = clips.Clip(clip.frames[:4], clip.fps, clip.backward[:3], clip.forward[:3])
    style = clip.frames[7:8]
    painted = {m: temporal.paint_clip(short, m, net=random_vgg16, style=style,
                                      settings=settings, progress=False)
               for m in ("optimize", "temporal", "blend")}  # fmt: skip
    errors = {m: short.warping_error(p.frames) for m, p in painted.items()}
    assert errors["temporal"] < errors["optimize"]
    assert errors["blend"] < errors["optimize"]
    rows = temporal.compare(short, painted)
    assert [r["method"] for r in rows] == ["optimize", "temporal", "blend"]
    assert all(r["fps"] > 0 and r["frames"] == 4 for r in rows)


def test_fast_and_blend_paint_with_a_network(clip):
    """Any frame-to-frame network paints ``fast``; blending its frames halves nothing where
    the mask is 0 and pulls towards the warped previous output elsewhere."""
    noisy = torch.nn.Conv2d(3, 3, 1)  # a stand-in network: arithmetic only
    torch.nn.init.eye_(noisy.weight[:, :, 0, 0])
    torch.nn.init.zeros_(noisy.bias)
    fast = temporal.paint_clip(clip, "fast", model=noisy, progress=False)
    torch.testing.assert_close(fast.frames, clip.frames)  # identity network: the clip itself
    blended = temporal.paint_clip(clip, "blend", model=noisy, blend=1.0, progress=False)
    k, mask = 3, clip.masks[2:3]
    expected = clip.warped_previous(k, blended.frames[k - 1 : k])
    torch.testing.assert_close(blended.frames[k : k + 1] * mask, expected * mask)
    with pytest.raises(NSTError, match="give a model"):
        temporal.paint_clip(clip, "fast", progress=False)
    with pytest.raises(NSTError, match="unknown method"):
        temporal.paint_clip(clip, "smear", progress=False)


def test_ctrl_c_keeps_the_frames_done(clip):
    calls = []

    def interrupt_at_third(frame):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return frame

    model = torch.nn.Identity()
    model.register_parameter("p", torch.nn.Parameter(torch.zeros(1)))
    model.forward = interrupt_at_third
    seen = []
    painted = temporal.paint_clip(clip, "fast", model=model, progress=False,
                                  on_frame=lambda k, f: seen.append(k))  # fmt: skip
    assert painted.status == "interrupted"
    assert len(painted.frames) == 2 and seen == [0, 1]


def test_gif_round_trip(tmp_path, clip):
    path = clips.write_clip(clip.frames, tmp_path / "clip.gif", fps=10)
    with Image.open(path) as gif:
        assert gif.n_frames == len(clip)
        assert gif.size == (96, 72)
        assert gif.info["duration"] == 100
    folder = clips.write_clip(clip.frames[:3], tmp_path / "frames")
    assert sorted(p.name for p in folder.iterdir()) == [
        "frame_0000.png", "frame_0001.png", "frame_0002.png"]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(("name", "message"), [
    ("clip.avi", "use .gif, .mp4 or a folder"),
    ("file.txt/clip.gif", "parent of the output path is a file"),
])  # fmt: skip
def test_bad_outputs_are_one_line_errors(tmp_path, name, message):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NSTError, match=message):
        clips.check_clip_output(tmp_path / name)


def test_missing_extras_name_the_pip_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_extras(name, *args, **kwargs):
        if name in ("av", "cv2"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_extras)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "av" else find_spec(name, *a))  # fmt: skip
    clip_file = tmp_path / "clip.mp4"
    clip_file.write_bytes(b"not really")
    with pytest.raises(NSTError, match=r"nst-utils\[video\]"):
        clips.read_clip(clip_file)
    with pytest.raises(NSTError, match=r"nst-utils\[video\]"):
        clips.check_clip_output(tmp_path / "out.mp4")
    frame = torch.rand(1, 3, 8, 8)
    with pytest.raises(NSTError, match=r"nst-utils\[flow\]"):
        flow.estimate_flow(frame, frame)


def test_bad_clip_inputs(tmp_path):
    with pytest.raises(NSTError, match="video file not found"):
        clips.load_clip(tmp_path / "missing.mp4")
    with pytest.raises(NSTError, match="at least 2 frames"):
        clips.synthetic_clip("chelsea", frames=1)
    assert len(clips.load_clip("synthetic:coffee", size=64, frames=3)) == 3


def test_estimated_flow_recovers_the_synthetic_camera(clip):
    """OpenCV's Farnebäck flow (optional extra) follows the camera: warping along it leaves
    far less than a still camera does (measured 0.032 against 0.127; the true flow: 0.005)."""
    pytest.importorskip("cv2")
    estimated = clips.Clip(clip.frames[:3], clip.fps).with_estimated_flow()
    warped = flow.warp(clip.frames[:2], estimated.backward)
    mask = clip.masks[:2]
    standing_still = _masked_mean_abs(clip.frames[:2], clip.frames[1:3], mask)
    assert _masked_mean_abs(warped, clip.frames[1:3], mask) < 0.35 * standing_still


def test_mp4_round_trip(tmp_path, clip):
    pytest.importorskip("av")
    path = clips.write_clip(clip.frames, tmp_path / "clip.mp4", fps=8)
    back = clips.read_clip(path, size=96)
    assert len(back) == len(clip) and back.frames.shape[-2:] == clip.frames.shape[-2:]
    assert (back.frames - clip.frames).abs().mean() < 0.05  # lossy H.264
    for fps in (0.3, 29.97):  # not rounded to 0 or 30
        assert clips.read_clip(clips.write_clip(clip.frames[:2], tmp_path / "r.mp4", fps)).fps \
            == pytest.approx(fps)


# --------------------------------------------------------------------------- nst video


def _nst(capsys, *argv) -> tuple[int, str, str]:
    from nst_utils.cli import main

    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(("argv", "message", "status"), [
    (["missing.mp4", "--style", "swirls"], "missing.mp4: video file not found", 1),
    (["synthetic:chelsea", "--style", "no_such_painting"], "neither a file nor an example", 1),
    (["synthetic:chelsea"], "give --style", 2),
    (["synthetic:chelsea", "--method", "fast"], "give --model", 2),
    (["synthetic:chelsea", "--method", "blend", "--style", "swirls", "--blend", "2"],
     "share from 0 to 1", 2),
])  # fmt: skip
def test_cli_bad_input_is_one_line(tmp_path, capsys, argv, message, status):
    """Missing what a method needs is a usage mistake (exit 2); a bad value or file, 1."""
    out = tmp_path / "out.gif"
    try:
        code, _, err = _nst(capsys, "video", *argv, "-o", str(out))
    except SystemExit as usage:  # argparse's own usage mistakes
        code, err = usage.code, capsys.readouterr().err
    assert code == status
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_paints_the_synthetic_clip(tmp_path, capsys):
    out = tmp_path / "clip.gif"
    status, _, _ = _nst(capsys, "video", "synthetic:coffee", "-o", str(out), "--style",
                              "swirls", "--size", "48", "--frames", "3", "--steps", "2",
                              "--quiet", "--arch", "vgg16")  # fmt: skip
    assert status == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 3 and gif.size == (48, 36)


def test_cli_ctrl_c_keeps_the_frames_done(tmp_path, capsys, monkeypatch):
    """Ctrl-C during the third frame: the two frames done are written (a GIF, whole), the
    exit status is 130 and one line says what was kept."""
    from nst_utils.paper import pipeline

    calls = []

    def interrupted_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return pipeline.run(*args, **{**kwargs, "progress": False})

    monkeypatch.setattr(temporal, "run", interrupted_third)
    out = tmp_path / "clip.gif"
    status, _, err = _nst(capsys, "video", "synthetic:coffee", "-o", str(out), "--style",
                          "swirls", "--size", "48", "--frames", "5", "--steps", "1",
                          "--arch", "vgg16", "--quiet")  # fmt: skip
    assert status == 130
    assert err.strip() == f"nst: interrupted: kept the 2 of 5 frames painted in {out}"
    with Image.open(out) as gif:
        assert gif.n_frames == 2


def test_cli_paints_a_users_clip_with_estimated_flow(tmp_path, capsys, clip):
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    source = clips.write_clip(clip.frames[:3], tmp_path / "mine.mp4")
    out = tmp_path / "frames"
    status, printed, _ = _nst(capsys, "video", str(source), "-o", str(out), "--style", "swirls",
                              "--size", "48", "--steps", "1", "--arch", "vgg16")  # fmt: skip
    assert status == 0, printed
    assert len(list(out.glob("frame_*.png"))) == 3
    assert "3 of 3 frames, temporal" in printed and "warping error" in printed


def test_blending_after_the_fact_is_blending_as_you_go(clip):
    identity = torch.nn.Conv2d(3, 3, 1)
    torch.nn.init.eye_(identity.weight[:, :, 0, 0])
    torch.nn.init.zeros_(identity.bias)
    as_you_go = temporal.paint_clip(clip, "blend", model=identity, blend=0.6, progress=False)
    torch.testing.assert_close(as_you_go.frames, temporal.blend(clip, clip.frames, 0.6))

r"""Clips: a synthetic one whose optical flow is known exactly, users' files, GIF/MP4 out.

**The synthetic clip** (:func:`synthetic_clip`) needs no download: a camera pans across a
photo while zooming out, and a striped ball rolls across the picture in front of it. Frame
:math:`k` shows the photo point

.. math:: q = c_k + s_k\,(p - p_0)

at pixel :math:`p` (:math:`p_0` the frame's centre, :math:`c_k` the camera's centre on the
photo, :math:`s_k` photo pixels per frame pixel), so the point at :math:`p` of frame
:math:`k` is at :math:`p_0 + (c_k + s_k(p - p_0) - c_{k-1}) / s_{k-1}` in frame :math:`k-1`:
that is the exact backward flow of the background; the ball moves by :math:`v` pixels per
frame, so its backward flow is :math:`-v`. Panning and zooming out bring new picture in at the
borders, and the ball hides and uncovers the background: both are what the reliability mask of
:mod:`nst_utils.video.flow` must find.

**Users' clips** are read with PyAV (``pip install 'nst-utils[video]'``) and their flow is
estimated with OpenCV (``pip install 'nst-utils[flow]'``); both are optional, and a missing
one is a one-line error that names the extra. GIFs are written with Pillow (always there), MP4
with PyAV, a folder of PNG frames with :func:`nst_utils.assets.images.save_image`; every file
atomically (:func:`nst_utils.assets.files.atomic_write`).

The maths of flow (warping, reliability, warping error) is in :mod:`nst_utils.video.flow`; the
painting of clips (per frame, with the temporal loss, blended) in :mod:`nst_utils.video.temporal`.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import torch

from ..assets.files import atomic_write
from ..assets.images import ImageSource, load_image, resize, to_pil
from ..checks import SYNTHETIC_PREFIX, VIDEO_EXTRA, check_clip_output
from ..errors import NSTError
from . import flow as flows
from .flow import reliability, warp, warping_error  # noqa: F401  (CONTRACT16's names, here too)

#: Frames of the synthetic clip, its frame rate, and its frames' longest side.
FRAMES = 16
FPS = 8.0
SIZE = 128
#: How far the synthetic camera zooms out (the last window is this much wider) and pans.
ZOOM = 0.25
PAN = 0.8


@dataclass
class Clip:
    """``T`` frames ``(T, 3, H, W)`` in ``[0, 1]`` and, when known, their optical flow.

    ``backward[k - 1]`` carries each pixel of frame ``k`` to frame ``k - 1`` (warp frame
    ``k - 1`` onto frame ``k`` with it); ``forward[k - 1]`` carries frame ``k - 1`` to ``k``.
    Both ``(T - 1, 2, H, W)`` in pixels, or ``None`` when unknown (:meth:`with_estimated_flow`).
    """

    frames: torch.Tensor
    fps: float = FPS
    backward: torch.Tensor | None = None
    forward: torch.Tensor | None = None
    source: str = ""
    _masks: torch.Tensor | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def has_flow(self) -> bool:
        return self.backward is not None and self.forward is not None

    @property
    def masks(self) -> torch.Tensor:
        """``(T - 1, 1, H, W)``: where frame ``k - 1`` warped onto ``k`` can be trusted
        (:func:`nst_utils.video.flow.reliability`)."""
        if self._masks is None:
            self._masks = flows.reliability(self._flow("backward"), self._flow("forward"))
        return self._masks

    def _flow(self, which: str) -> torch.Tensor:
        value = getattr(self, which)
        if value is None:
            raise NSTError(f"{self.source or 'this clip'}: its optical flow is not known yet; "
                           "call with_estimated_flow() first")  # fmt: skip
        return value

    def warped_previous(self, k: int, frame: torch.Tensor) -> torch.Tensor:
        """``frame`` (something shown at frame ``k - 1``) warped onto frame ``k``."""
        return flows.warp(frame, self._flow("backward")[k - 1 : k])

    def warping_error(self, frames: torch.Tensor | Sequence[torch.Tensor]) -> float:
        """Lai et al.'s warping error of ``frames`` painted from this clip."""
        frames = flows._stack(frames)
        n = len(frames)
        return flows.warping_error(frames, self._flow("backward")[: n - 1], self.masks[: n - 1])

    def with_estimated_flow(self, progress: bool = False) -> Clip:
        """This clip with its flow estimated (:func:`nst_utils.video.flow.estimate_flow`)."""
        if self.has_flow:
            return self
        from tqdm.auto import tqdm

        back, fore = [], []
        pairs = list(zip(self.frames[:-1], self.frames[1:], strict=True))
        for before, after in tqdm(pairs, desc="optical flow", disable=not progress, leave=False):
            back.append(flows.estimate_flow(after[None], before[None]))
            fore.append(flows.estimate_flow(before[None], after[None]))
        return replace(self, backward=torch.cat(back), forward=torch.cat(fore), _masks=None)


# --------------------------------------------------------------------------- synthetic clip


def synthetic_clip(
    photo: ImageSource = "chelsea", frames: int = FRAMES, size: int = SIZE, *,
    fps: float = FPS, ball: bool = True,
) -> Clip:  # fmt: skip
    """A pan-and-zoom over ``photo`` (a file or example name) with a ball rolling in front:
    ``frames`` frames of 4:3 with longest side ``size``, and their exact flow."""
    if not isinstance(frames, int) or frames < 2:
        raise NSTError(f"a clip needs at least 2 frames, got {frames!r}")
    h, w = round(size * 3 / 4), size
    image = load_image(photo)
    cameras = _camera_path(frames, (h, w), tuple(image.shape[-2:]))
    # the photo at about the frames' resolution, so that each frame is a smooth resampling
    # of it (bilinear warping then reproduces the next frame closely)
    scale = max(s for _, s in cameras) / 1.15
    small = resize(image, (max(1, round(image.shape[-2] / scale)),
                           max(1, round(image.shape[-1] / scale))))  # fmt: skip
    ratio = small.shape[-1] / image.shape[-1]
    cameras = [(c * ratio, s * ratio) for c, s in cameras]
    grid = flows.pixel_grid(h, w)
    centre = torch.tensor([(w - 1) / 2, (h - 1) / 2]).view(1, 2, 1, 1)
    pictures, back, fore = [], [], []
    balls = [_ball(k, frames, (h, w)) if ball else None for k in range(frames)]
    for k, (c, s) in enumerate(cameras):
        picture = flows.sample(small, c.view(1, 2, 1, 1) + s * (grid - centre))
        if balls[k] is not None:
            colour, alpha, _ = balls[k]
            picture = alpha * colour + (1 - alpha) * picture
        pictures.append(picture)
        if k == 0:
            continue
        (c0, s0), (c1, s1) = cameras[k - 1], cameras[k]
        to_before = centre + (c1.view(1, 2, 1, 1) + s1 * (grid - centre) - c0.view(1, 2, 1, 1)) / s0
        to_after = centre + (c0.view(1, 2, 1, 1) + s0 * (grid - centre) - c1.view(1, 2, 1, 1)) / s1
        backward, forward = to_before - grid, to_after - grid
        if ball:
            velocity = balls[k][2] - balls[k - 1][2]
            backward = torch.where(balls[k][1] >= 0.5, -velocity.view(1, 2, 1, 1), backward)
            forward = torch.where(balls[k - 1][1] >= 0.5, velocity.view(1, 2, 1, 1), forward)
        back.append(backward)
        fore.append(forward)
    name = photo if isinstance(photo, str | os.PathLike) else "a picture"
    return Clip(torch.cat(pictures).clamp(0, 1), fps, torch.cat(back), torch.cat(fore),
                f"{SYNTHETIC_PREFIX}{name}")  # fmt: skip


def _camera_path(frames: int, frame: tuple[int, int], photo: tuple[int, int]):
    """``(centre, scale)`` per frame: zoom out by :data:`ZOOM` while panning left to right
    over :data:`PAN` of the room the photo leaves, the widest window just inside the photo."""
    (h, w), (ph, pw) = frame, photo
    widest = min(ph / h, pw / (w * (1 + 0.25 * PAN)))  # leave some room to pan
    path = []
    for k in range(frames):
        t = k / (frames - 1)
        s = widest / (1 + ZOOM) * (1 + ZOOM * t)
        half_w = s * (w - 1) / 2
        room = pw - 1 - 2 * half_w
        cx = half_w + room * (0.5 + PAN * (t - 0.5))
        path.append((torch.tensor([cx, (ph - 1) / 2]), s))
    return path


def _ball(k: int, frames: int, shape: tuple[int, int]):
    """The striped ball in frame ``k``: colour ``(1, 3, H, W)``, antialiased coverage
    ``(1, 1, H, W)`` and its centre ``(2,)``; it crosses the frame diagonally."""
    h, w = shape
    t = k / (frames - 1)
    radius = 0.2 * h
    centre = torch.tensor([w * (0.2 + 0.6 * t), h * (0.7 - 0.4 * t)])
    grid = flows.pixel_grid(h, w) - centre.view(1, 2, 1, 1)
    distance = grid.pow(2).sum(1, keepdim=True).sqrt()
    alpha = (radius + 0.5 - distance).clamp(0, 1)
    stripes = 0.5 + 0.4 * torch.sin(2 * math.pi * (grid[:, 0:1] + grid[:, 1:2]) / 16)
    colour = torch.cat([torch.full_like(stripes, 0.9), stripes, 1 - stripes * 0.8], dim=1)
    return colour, alpha, centre


# --------------------------------------------------------------------------- reading


def load_clip(source: str | os.PathLike, size: int = SIZE, frames: int | None = None) -> Clip:
    """``synthetic:<photo>`` (:func:`synthetic_clip`, ``frames`` default :data:`FRAMES`) or a
    video file (:func:`read_clip`, ``frames`` default all)."""
    text = str(source)
    if text.startswith(SYNTHETIC_PREFIX):
        photo = text[len(SYNTHETIC_PREFIX):] or "chelsea"
        return synthetic_clip(photo, FRAMES if frames is None else frames, size)
    return read_clip(source, size, frames)


def read_clip(path: str | os.PathLike, size: int = SIZE, frames: int | None = None) -> Clip:
    """The first ``frames`` frames (all by default) of a video file, longest side ``size``;
    the flow is not known yet (:meth:`Clip.with_estimated_flow`). Needs PyAV."""
    path = Path(path)
    if not path.is_file():
        raise NSTError(f"{path}: video file not found; check the path, or use "
                       f"{SYNTHETIC_PREFIX}chelsea for the synthetic clip")  # fmt: skip
    av = _pyav(f"reading {path}")
    pictures, fps = [], FPS
    damaged = "a damaged or truncated video, or one PyAV cannot read"
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NSTError(f"{path}: no video stream in it ({damaged}, or sound only); "
                               "use an MP4 or GIF")  # fmt: skip
            stream = container.streams.video[0]
            fps = float(stream.average_rate or FPS)
            for frame in container.decode(stream):
                pictures.append(load_image(frame.to_ndarray(format="rgb24"), size))
                if frames is not None and len(pictures) >= frames:
                    break
    except av.error.FFmpegError as err:
        reason = " ".join(str(err).split())
        raise NSTError(f"{path}: {damaged} ({reason}); use an MP4 or GIF") from None
    if len(pictures) < 2:
        found = "no frame could be decoded" if not pictures else "it holds only 1 frame"
        raise NSTError(f"{path}: {found}; a clip needs at least 2 (a damaged or truncated "
                       "video?)")  # fmt: skip
    return Clip(torch.cat(pictures), fps, source=str(path))


def _pyav(what: str):
    try:
        import av
    except ImportError:
        raise NSTError(f"{what} needs PyAV: {VIDEO_EXTRA}") from None
    return av


# --------------------------------------------------------------------------- writing


def write_clip(frames: torch.Tensor | Sequence[torch.Tensor], path: str | os.PathLike,
               fps: float = FPS) -> Path:  # fmt: skip
    """Write ``frames`` as a GIF (Pillow), an MP4 (PyAV) or PNG files in a folder."""
    path = check_clip_output(path, probe=False)
    frames = flows._stack(frames)
    if not path.suffix:
        save_frames(frames, path)
    elif path.suffix.lower() == ".gif":
        with atomic_write(path) as tmp:
            tmp.write_bytes(gif_bytes(frames, fps))
    else:
        _write_mp4(frames, path, fps)
    return path


def save_frames(frames: torch.Tensor | Sequence[torch.Tensor], folder: str | os.PathLike,
                start: int = 0) -> list[Path]:  # fmt: skip
    """``frame_0000.png``, ``frame_0001.png``, … in ``folder``, numbered from ``start``."""
    from ..assets.images import save_image

    frames = flows._stack(frames)
    return [save_image(f[None], Path(folder) / f"frame_{start + i:04d}.png")
            for i, f in enumerate(frames)]  # fmt: skip


def gif_bytes(frames: torch.Tensor, fps: float = FPS) -> bytes:
    """An endlessly looping GIF of ``frames``, every frame with one shared palette and no
    dithering, so that what flickers in it is the frames, not the GIF's colour choices."""
    from PIL import Image

    pictures = [to_pil(f[None]) for f in flows._stack(frames)]
    strip = Image.new("RGB", (pictures[0].width, pictures[0].height * len(pictures)))
    for i, picture in enumerate(pictures):
        strip.paste(picture, (0, i * picture.height))
    palette = strip.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    indexed = [p.quantize(palette=palette, dither=Image.Dither.NONE) for p in pictures]
    buffer = io.BytesIO()
    indexed[0].save(buffer, format="GIF", save_all=True, append_images=indexed[1:],
                    duration=round(1000 / fps), loop=0, optimize=False)  # fmt: skip
    return buffer.getvalue()


def _write_mp4(frames: torch.Tensor, path: Path, fps: float) -> None:
    av = _pyav(f"writing {path}")
    h, w = frames.shape[-2:]
    frames = frames[..., : h - h % 2, : w - w % 2]  # H.264 wants even sides
    with atomic_write(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        # the rate as a fraction: 0.3 or 29.97 frames/s, not rounded to 0 or 30
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[-1], frames.shape[-2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            array = (frame.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


# --------------------------------------------------------------------------- showing


def animation(clips: dict[str, torch.Tensor | Sequence[torch.Tensor]], fps: float = FPS):
    """Clips side by side in a notebook, each a looping GIF under its caption:
    ``animation({"photo": clip.frames, "painted": frames})``."""
    from IPython.display import HTML

    cells = []
    for caption, frames in clips.items():
        data = base64.b64encode(gif_bytes(flows._stack(frames), fps)).decode("ascii")
        cells.append(
            f'<figure style="margin:4px"><img src="data:image/gif;base64,{data}" '
            f'style="image-rendering:pixelated;width:256px"/>'
            f'<figcaption style="text-align:center">{caption}</figcaption></figure>'
        )
    return HTML(f'<div style="display:flex;flex-wrap:wrap">{"".join(cells)}</div>')

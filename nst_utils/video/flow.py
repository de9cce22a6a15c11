r"""Optical flow for video style transfer: warping, where the flow can be trusted, flicker.

A flow field :math:`w = (u, v)` gives every pixel :math:`p` of one frame the displacement to
where the same point of the scene is in another frame. Tensors are ``(B, 2, H, W)`` in
pixels, ``[:, 0]`` horizontal (:math:`u`, to the right) and ``[:, 1]`` vertical (:math:`v`,
down), torchvision's RAFT convention. Pixel centres sit at whole coordinates.

**Backward warping** (:func:`warp`). With the *backward* flow :math:`\hat w` of frame
:math:`k` (from each pixel of frame :math:`k` to frame :math:`k-1`), frame :math:`k-1`
resampled at :math:`p + \hat w(p)` is frame :math:`k-1` moved onto frame :math:`k`:

.. math:: \omega(p) = x_{k-1}\big(p + \hat w(p)\big)

(bilinear interpolation). Every pixel of frame :math:`k` gets a value, even one whose
point was hidden in frame :math:`k-1` or lay outside it; those values are wrong, which is
what the reliability mask says.

**Reliability** (Ruder, Dosovitskiy & Brox 2016, section 3.2; :func:`reliability`). With the
*forward* flow :math:`w` (frame :math:`k-1` to :math:`k`) warped onto frame :math:`k`,
:math:`\tilde w(p) = w(p + \hat w(p))`, the two flows of a visible point cancel. A pixel is
**disoccluded** when they do not,

.. math:: |\tilde w + \hat w|^2 > 0.01\,(|\tilde w|^2 + |\hat w|^2) + 0.5 ,

on a **motion boundary** when the backward flow changes fast,

.. math:: |\nabla \hat u|^2 + |\nabla \hat v|^2 > 0.01\,|\hat w|^2 + 0.002 ,

and **out of frame** when :math:`p + \hat w(p)` lies outside frame :math:`k-1`. The mask
:math:`c` is 0 there and 1 elsewhere.

**Warping error** (Lai et al. 2018, "Learning blind video temporal consistency", eq. 9;
:func:`warping_error`): the flicker of painted frames :math:`O_k`, measured where the flow
of the *input* clip is reliable,

.. math:: E_{warp} = \frac{1}{T-1} \sum_{k=1}^{T-1} \frac{1}{\sum_p c_k(p)}
          \sum_p c_k(p)\, \big\| O_k(p) - \hat O_{k-1}(p) \big\|_2^2 ,

with :math:`\hat O_{k-1}` the previous painted frame warped onto frame :math:`k`. A clip whose
frames follow the flow exactly scores 0.

**Estimated flow** (:func:`estimate_flow`) for users' own clips comes from OpenCV's
Farnebäck method, an optional extra (``pip install 'nst-utils[flow]'``); the synthetic clip of
:mod:`nst_utils.video.clips` knows its flow exactly and needs none.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..errors import NSTError

#: Ruder et al.'s thresholds: consistency (relative, absolute in px²), motion boundary.
CONSISTENCY = (0.01, 0.5)
MOTION_BOUNDARY = (0.01, 0.002)
FLOW_EXTRA = "pip install 'nst-utils[flow]'"


def pixel_grid(height: int, width: int, device=None) -> torch.Tensor:
    """``(1, 2, H, W)``: every pixel's own ``(x, y)`` coordinates."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=device),
        torch.arange(width, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack([xs, ys])[None]


def sample(image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``image`` (``(B, C, h, w)``) read at pixel coordinates ``points`` (``(B, 2, H, W)``),
    bilinearly; points outside take the nearest border value."""
    h, w = image.shape[-2:]
    x = (points[:, 0] + 0.5) * (2.0 / w) - 1.0  # pixel centres, align_corners=False
    y = (points[:, 1] + 0.5) * (2.0 / h) - 1.0
    grid = torch.stack([x, y], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def warp(frame: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    r"""Backward warping: :math:`\omega(p) = x(p + \hat w(p))`, ``frame`` moved along ``flow``.

    ``flow`` is the backward flow of the frame to warp *onto* (``(B, 2, H, W)``, pixels); the
    result has its size. Out-of-frame pixels repeat the border (:func:`inside`).
    """
    h, w = flow.shape[-2:]
    return sample(frame, pixel_grid(h, w, flow.device) + flow)


def inside(flow: torch.Tensor, shape: tuple[int, int] | None = None) -> torch.Tensor:
    """``(B, 1, H, W)``: 1 where ``p + flow(p)`` falls inside a frame of ``shape`` (default
    the flow's own ``(H, W)``), else 0."""
    h, w = shape or flow.shape[-2:]
    points = pixel_grid(*flow.shape[-2:], flow.device) + flow
    x, y = points[:, 0], points[:, 1]
    keep = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    return keep[:, None].float()


def consistent(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    r"""``(B, 1, H, W)``: 1 where :math:`|\tilde w + \hat w|^2 \le 0.01(|\tilde w|^2 +
    |\hat w|^2) + 0.5` (the point was visible in the previous frame), else 0."""
    back_then_forth = warp(forward, backward)  # w~(p) = w(p + w^(p))
    mismatch = (back_then_forth + backward).pow(2).sum(1, keepdim=True)
    size = back_then_forth.pow(2).sum(1, keepdim=True) + backward.pow(2).sum(1, keepdim=True)
    relative, absolute = CONSISTENCY
    return (mismatch <= relative * size + absolute).float()


def smooth_motion(backward: torch.Tensor) -> torch.Tensor:
    r"""``(B, 1, H, W)``: 0 on motion boundaries, :math:`|\nabla \hat u|^2 + |\nabla \hat
    v|^2 > 0.01|\hat w|^2 + 0.002` (central differences), else 1."""
    padded = F.pad(backward, (1, 1, 1, 1), mode="replicate")
    dx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    dy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    gradient = (dx.pow(2) + dy.pow(2)).sum(1, keepdim=True)
    relative, absolute = MOTION_BOUNDARY
    return (gradient <= relative * backward.pow(2).sum(1, keepdim=True) + absolute).float()


def reliability(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s weights :math:`c`: 1 where the warped previous frame can be trusted
    (consistent, no motion boundary, inside the frame), else 0; ``(B, 1, H, W)``."""
    return consistent(backward, forward) * smooth_motion(backward) * inside(backward)


def warping_errors(
    frames: torch.Tensor | Sequence[torch.Tensor],
    flows: torch.Tensor | Sequence[torch.Tensor],
    masks: torch.Tensor | Sequence[torch.Tensor],
) -> list[float]:
    r"""Lai et al.'s masked warping error of each frame :math:`k \ge 1` against frame
    :math:`k-1`: :math:`\sum_p c_k \|O_k - \hat O_{k-1}\|^2 / \sum_p c_k`.

    ``frames`` are ``T`` frames (``(T, 3, H, W)`` or ``(1, 3, H, W)`` each), ``flows`` and
    ``masks`` the ``T - 1`` backward flows (frame :math:`k` to :math:`k-1`) and reliability
    masks of the input clip.
    """
    frames, flows, masks = _stack(frames), _stack(flows), _stack(masks)
    if not (len(flows) == len(masks) == len(frames) - 1):
        raise NSTError(
            f"{len(frames)} frames need {len(frames) - 1} flows and masks, "
            f"got {len(flows)} and {len(masks)}"
        )
    warped = warp(frames[:-1], flows)
    squared = (frames[1:] - warped).pow(2).sum(1, keepdim=True)
    weight = masks.sum((1, 2, 3)).clamp_min(1.0)
    return ((masks * squared).sum((1, 2, 3)) / weight).tolist()


def warping_error(frames, flows, masks) -> float:
    """The mean of :func:`warping_errors` over the clip: one number for its flicker."""
    errors = warping_errors(frames, flows, masks)
    return sum(errors) / len(errors) if errors else 0.0


def _stack(items: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    if torch.is_tensor(items):
        return items.float()
    return torch.cat([item.reshape(-1, *item.shape[-3:]) for item in items]).float()


# --------------------------------------------------------------------------- estimated flow


def estimate_flow(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """The flow that carries each pixel of ``target`` to ``source`` (``(1, 2, H, W)``), so that
    ``warp(source, flow)`` looks like ``target``: OpenCV's Farnebäck method on grey levels.

    For the backward flow of frame ``k`` call ``estimate_flow(frame_k, frame_k_minus_1)``;
    swap them for the forward flow. Needs the ``flow`` extra (``opencv-python-headless``).
    """
    cv2 = _opencv()
    a, b = _grey(target), _grey(source)
    flow = cv2.calcOpticalFlowFarneback(
        a, b, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5,
        poly_sigma=1.2, flags=0,
    )  # fmt: skip
    return torch.from_numpy(flow).permute(2, 0, 1)[None].float()


def _opencv():
    try:
        import cv2
    except ImportError:
        raise NSTError(
            f"estimating optical flow for a video file needs OpenCV: {FLOW_EXTRA}"
        ) from None
    return cv2


def _grey(frame: torch.Tensor):
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = (frame.float().cpu() * weights).sum(1)[0]
    return (grey.clamp(0, 1) * 255).round().byte().numpy()

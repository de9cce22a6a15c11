r"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2017, section 5).

Style transfer copies the painting's *colours* along with its brush strokes. Two ways to keep
the photo's colours, both plain pre- and post-processing around the one optimisation engine:

**Luminance-only transfer.** Convert to a luma/chroma space (YIQ, or YUV):

.. math:: (Y, I, Q)^\top = T_{YIQ}\,(R, G, B)^\top, \qquad
          Y = 0.299 R + 0.587 G + 0.114 B.

Transfer on the luminance images :math:`Y_c` and :math:`Y_s` (replicated to three channels,
since VGG wants RGB), optionally after matching the style's luminance to the content's,
:math:`Y_s' = \frac{\sigma_c}{\sigma_s}(Y_s - \mu_s) + \mu_c`; then recombine the output's
:math:`Y` with the content's :math:`I, Q`: the output has the content's chroma exactly.

**Colour histogram matching.** Before the transfer, give the style image's pixels
:math:`x \in R^3` the mean :math:`\mu_c` and covariance :math:`\Sigma_c` of the content's
pixels with an affine map

.. math:: x' = A (x - \mu_s) + \mu_c, \qquad A \Sigma_s A^\top = \Sigma_c,

where :math:`A = L_c L_s^{-1}` with Cholesky factors :math:`\Sigma = L L^\top`
(``method="cholesky"``), or :math:`A = \Sigma_c^{1/2} \Sigma_s^{-1/2}` with symmetric square
roots from the eigen-decomposition (``method="eigen"``, Hertzmann's image-analogies choice).

Both plug into the one pipeline as :class:`PreserveColour`.
"""

from __future__ import annotations

import torch

from ..engine.precision import float64_on_cpu
from ..errors import NSTError
from ..paper.pipeline import Extension, Stage

#: RGB -> YIQ (NTSC) and RGB -> YUV (BT.601) as 3x3 matrices acting on column vectors.
SPACES = {
    "yiq": ((0.299, 0.587, 0.114), (0.59590059, -0.27455667, -0.32134392),
            (0.21153661, -0.52273617, 0.31119955)),
    "yuv": ((0.299, 0.587, 0.114), (-0.14714119, -0.28886916, 0.43601035),
            (0.61497538, -0.51496512, -0.10001026)),
}  # fmt: skip
PRESERVE_MODES = ("luminance", "histogram")
HISTOGRAM_METHODS = ("cholesky", "eigen")


def _matrix(space: str, like: torch.Tensor) -> torch.Tensor:
    if space not in SPACES:
        raise ValueError(f"unknown colour space {space!r}: choose one of {', '.join(SPACES)}")
    return torch.tensor(SPACES[space], dtype=like.dtype, device=like.device)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply every pixel of a ``(B, 3, H, W)`` image by ``matrix``."""
    return torch.einsum("ij,bjhw->bihw", matrix, image)


def rgb_to_yiq(image: torch.Tensor, space: str = "yiq") -> torch.Tensor:
    """``(B, 3, H, W)`` RGB to luma/chroma ``(Y, I, Q)`` (or ``(Y, U, V)``)."""
    return _apply(_matrix(space, image), image)


def yiq_to_rgb(image: torch.Tensor, space: str = "yiq") -> torch.Tensor:
    """The inverse of :func:`rgb_to_yiq` (not clamped)."""
    return _apply(torch.linalg.inv(_matrix(space, image)), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """:math:`Y` of an RGB image, shape ``(B, 1, H, W)`` (the same in YIQ and YUV)."""
    return rgb_to_yiq(image)[:, :1]


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    r""":math:`\frac{\sigma_c}{\sigma_s}(Y_s - \mu_s) + \mu_c`, clamped to ``[0, 1]``."""
    mu_s, sd_s = style_y.mean(), style_y.std().clamp_min(1e-6)
    return ((style_y - mu_s) * (content_y.std() / sd_s) + content_y.mean()).clamp(0, 1)


def luminance_image(image: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
    """:math:`Y` replicated to three channels, what VGG sees in luminance-only transfer.

    With ``reference`` (the content image), :math:`Y` is first matched to its mean and std.
    """
    y = luminance(image)
    if reference is not None:
        y = match_luminance(y, luminance(reference))
    return y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def recombine_luminance(
    output: torch.Tensor, content: torch.Tensor, space: str = "yiq"
) -> torch.Tensor:
    """The output's luminance with the content's chroma, back in RGB ``[0, 1]``."""
    if output.shape[-2:] != content.shape[-2:]:
        raise ValueError("output and content must have the same size to recombine colours")
    y = rgb_to_yiq(output, space)[:, :1]
    chroma = rgb_to_yiq(content, space)[:, 1:]
    return yiq_to_rgb(torch.cat([y, chroma], dim=1), space).clamp(0, 1)


def colour_stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Mean :math:`\mu` (3,) and covariance :math:`\Sigma` (3, 3) of an image's pixels,
    computed in float64 on the CPU, returned in float32 on the image's device."""
    return float64_on_cpu(_pixel_stats, image)


def _pixel_stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = image.permute(1, 0, 2, 3).reshape(3, -1)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / pixels.shape[1]


def _sqrt_and_inverse_sqrt(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(1e-10)
    return (vectors * values.sqrt()) @ vectors.T, (vectors * values.rsqrt()) @ vectors.T


def colour_transform(
    source_cov: torch.Tensor, target_cov: torch.Tensor, method: str = "cholesky"
) -> torch.Tensor:
    r"""A matrix :math:`A` with :math:`A \Sigma_s A^\top = \Sigma_t`."""
    eye = torch.eye(3, dtype=source_cov.dtype, device=source_cov.device)
    source_cov, target_cov = source_cov + 1e-8 * eye, target_cov + 1e-8 * eye
    if method == "cholesky":
        l_s, l_t = torch.linalg.cholesky(source_cov), torch.linalg.cholesky(target_cov)
        return l_t @ torch.linalg.inv(l_s)
    if method == "eigen":
        return _sqrt_and_inverse_sqrt(target_cov)[0] @ _sqrt_and_inverse_sqrt(source_cov)[1]
    raise ValueError(f"unknown method {method!r}: choose one of {', '.join(HISTOGRAM_METHODS)}")


def match_histogram(
    source: torch.Tensor, target: torch.Tensor, method: str = "cholesky", clamp: bool = True
) -> torch.Tensor:
    r"""``source`` with the colour mean and covariance of ``target``: :math:`A(x-\mu_s)+\mu_t`.

    Used on the *style* image with the *content* image as target. ``clamp`` keeps the result in
    ``[0, 1]`` (which can move the statistics slightly when the map leaves that range).
    """
    a, mu_s, mu_t = float64_on_cpu(_histogram_map, source, target, method=method)
    a, mu_s, mu_t = (t.to(source.dtype) for t in (a, mu_s, mu_t))
    out = _apply(a, source - mu_s.view(1, 3, 1, 1)) + mu_t.view(1, 3, 1, 1)
    return out.clamp(0, 1) if clamp else out


def _histogram_map(
    source: torch.Tensor, target: torch.Tensor, method: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r""":math:`A`, :math:`\mu_s` and :math:`\mu_t` of :func:`match_histogram` (float64, CPU)."""
    mu_s, cov_s = _pixel_stats(source)
    mu_t, cov_t = _pixel_stats(target)
    return colour_transform(cov_s, cov_t, method), mu_s, mu_t


def check_mode(mode: str | None) -> None:
    """``None`` (keep the painting's colours) or one of :data:`PRESERVE_MODES`."""
    if mode is not None and mode not in PRESERVE_MODES:
        raise ValueError(f"unknown colour mode {mode!r}: choose {', '.join(PRESERVE_MODES)}")


def prepare_content(content: torch.Tensor, mode: str | None) -> torch.Tensor:
    """What the optimisation sees as content: its luminance image in ``"luminance"`` mode."""
    check_mode(mode)
    return luminance_image(content) if mode == "luminance" else content


def prepare_style(
    style: torch.Tensor, content: torch.Tensor, mode: str | None, match: bool = True
) -> torch.Tensor:
    """The style image as the optimisation sees it under colour-preservation ``mode``."""
    check_mode(mode)
    if mode == "luminance":
        return luminance_image(style, content if match else None)
    if mode == "histogram":
        return match_histogram(style, content)
    return style


def finish(output: torch.Tensor, content: torch.Tensor, mode: str | None) -> torch.Tensor:
    """The final RGB image: in ``"luminance"`` mode, output luminance + content chroma."""
    check_mode(mode)
    return recombine_luminance(output, content) if mode == "luminance" else output


class PreserveColour(Extension):
    """Keep the photo's colours in a run of :func:`nst_utils.paper.pipeline.run`: the
    optimisation sees the photo and the paintings as ``mode`` says (:func:`prepare_content`,
    :func:`prepare_style`), and the result is finished with :func:`finish`."""

    def __init__(self, mode: str) -> None:
        if mode not in PRESERVE_MODES:
            raise ValueError(f"unknown colour mode {mode!r}: choose {', '.join(PRESERVE_MODES)}")
        self.mode = mode

    def see(self, stage: Stage) -> None:
        if stage.photo is None:
            raise NSTError("colour preservation keeps a photo's colours: give a content image")
        stage.view = lambda picture: prepare_content(picture, self.mode)
        stage.content = stage.view(stage.photo)
        stage.paintings = [prepare_style(p, stage.photo, self.mode) for p in stage.paintings]

    def finish(self, image: torch.Tensor, photo: torch.Tensor | None) -> torch.Tensor:
        return finish(image, photo, self.mode)


def preserving(mode: str | None) -> list[Extension]:
    """The extensions for ``--preserve-color MODE``: none for ``None``."""
    return [] if mode is None else [PreserveColour(mode)]

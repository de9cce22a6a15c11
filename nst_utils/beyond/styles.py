r"""Several styles: weighted blends and one style per region.

A blend of styles :math:`s = 1..S` with weights :math:`w_s > 0` minimises

.. math:: \alpha L_{content} + \beta \sum_s \tilde w_s L_{style}^{(s)}, \qquad
          \tilde w_s = w_s / \textstyle\sum_{s'} w_{s'},

so the total amount of style does not depend on how many paintings are mixed. With masks
(:mod:`nst_utils.beyond.spatial`) the styles that share a region are blended this way within it, and
every region gets the full :math:`\beta`; a region that no mask covers gets no style at all.

On the command line a style is written ``NAME_OR_FILE[:WEIGHT]``, e.g. ``starry_night:0.7``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Union

from ..errors import NSTError

if TYPE_CHECKING:
    import torch

#: A file, an example name or an image tensor.
Source = Union[str, Path, "torch.Tensor"]


def _is_tensor(value) -> bool:
    """True for a torch tensor, without importing torch: if torch is not loaded yet, no
    tensor exists (the command line parses its styles before loading it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


@dataclass(frozen=True)
class StyleSpec:
    """One style image: where it comes from, its blend weight, and optional masks.

    ``mask`` picks the region of the generated image this style paints; ``style_mask`` the part
    of the style image whose statistics are used. Both are files or tensors (white = region).
    """

    source: Source
    weight: float = 1.0
    mask: Source | None = None
    style_mask: Source | None = None

    @property
    def label(self) -> str:
        """A short name for titles and messages."""
        if _is_tensor(self.source):
            return f"image {tuple(self.source.shape[-2:])}"
        return Path(str(self.source)).stem


def parse_weight(text: str, spec: str) -> float:
    """A blend weight: a finite number > 0, else :class:`NSTError` naming ``spec``."""
    try:
        weight = float(text)
    except ValueError:
        raise NSTError(f"style {spec!r}: weight {text!r} is not a number (e.g. name:0.5)") from None
    if not (math.isfinite(weight) and weight > 0):
        raise NSTError(f"style {spec!r}: the weight must be a positive number, got {text}")
    return weight


def parse_style_spec(spec: str) -> StyleSpec:
    """``"starry_night:0.7"`` → ``StyleSpec("starry_night", 0.7)``; no ``:`` means weight 1.

    A spec that names an existing file is taken as it is, even if it contains ``:``.
    """
    text = spec.strip()
    if not text:
        raise NSTError("style '': empty style; give a file or an example name, e.g. starry_night")
    if ":" not in text or Path(text).exists():
        return StyleSpec(text)
    name, _, weight = text.rpartition(":")
    if not name.strip():
        raise NSTError(f"style {spec!r}: no image before the ':'; write NAME:WEIGHT")
    return StyleSpec(name.strip(), parse_weight(weight.strip(), spec))


def _group_key(spec: StyleSpec):
    mask = spec.mask
    if _is_tensor(mask):
        return ("tensor", id(mask))
    return ("path", None if mask is None else str(mask))


def blend_shares(specs: Iterable[StyleSpec]) -> list[StyleSpec]:
    r"""The specs with each weight turned into its share :math:`\tilde w_s`: divided by the sum
    over the styles sharing its region.

    Without masks this is :math:`w_s / \sum w`; raises :class:`NSTError` on a weight
    :math:`\le 0` and if there is no style at all.
    """
    specs = list(specs)
    if not specs:
        raise NSTError("no style given")
    for spec in specs:
        parse_weight(str(spec.weight), f"{spec.label}:{spec.weight}")
    totals: dict = {}
    for spec in specs:
        totals[_group_key(spec)] = totals.get(_group_key(spec), 0.0) + spec.weight
    return [replace(s, weight=s.weight / totals[_group_key(s)]) for s in specs]


def attach_masks(specs: Sequence[StyleSpec], masks: Sequence[Source]) -> list[StyleSpec]:
    """Pair ``--style-mask`` values with the styles in order (none, or one per style)."""
    if not masks:
        return list(specs)
    if len(masks) != len(specs):
        raise NSTError(
            f"{len(masks)} style mask(s) for {len(specs)} style(s): give one --style-mask per "
            "style, in the same order (a region no mask covers gets no style)"
        )
    return [replace(spec, mask=mask) for spec, mask in zip(specs, masks, strict=True)]


def as_specs(style: Source | StyleSpec | Sequence) -> list[StyleSpec]:
    """One source, a :class:`StyleSpec`, or a list of specs / ``(source, weight)`` pairs."""
    if isinstance(style, StyleSpec):
        return [style]
    if _is_tensor(style) or isinstance(style, str | Path):
        return [StyleSpec(style)]
    return [s if isinstance(s, StyleSpec) else StyleSpec(*s) for s in style]


def plan(style: Source | StyleSpec | Sequence) -> tuple[list[tuple[Source, float]], list]:
    """What :func:`nst_utils.paper.pipeline.run` takes for ``style`` (one source, a
    :class:`StyleSpec`, or a list of specs / ``(source, weight)`` pairs): the paintings with
    their weights, and, where a spec has a mask, the
    :class:`~nst_utils.beyond.spatial.Regions` extension that gives each region its styles."""
    specs = blend_shares(as_specs(style))
    pairs = [(spec.source, spec.weight) for spec in specs]
    if all(spec.mask is None and spec.style_mask is None for spec in specs):
        return pairs, []
    from .spatial import Regions  # torch is loaded by now; parsing specs needs none

    masks = [spec.mask for spec in specs]
    style_masks = [spec.style_mask for spec in specs]
    return pairs, [Regions(masks, style_masks, [spec.weight for spec in specs])]

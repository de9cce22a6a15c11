r"""A network that paints in one pass (Johnson 2016, Ulyanov 2016, Dumoulin 2017).

The paper optimises the pixels of every picture anew. Johnson, Alahi & Fei-Fei instead train
a feed-forward *transformer* :math:`f_W` once, with the paper's loss as its training loss,
so that painting a photo :math:`p` is one pass, :math:`x = f_W(p)`
(:mod:`nst_utils.networks.fast_style`, :mod:`nst_utils.networks.training`). The network here is a
small
version of theirs:

==========================  ===================================================  ==========
layer                       what                                                 channels
==========================  ===================================================  ==========
in                          9×9 convolution, norm, ReLU                          c
down ×2                     3×3 convolution with stride 2, norm, ReLU            2c, 2c
residual ×``blocks``        :math:`x + (\text{conv, norm, ReLU, conv, norm})(x)`  2c
up ×2                       nearest ×2 upsampling, then 3×3 convolution, norm,   2c, c
                            ReLU (no transposed convolution: no checkerboard)
out                         9×9 convolution, then a sigmoid into ``[0, 1]``      3
==========================  ===================================================  ==========

with ``c = 32`` and five blocks (about half a million weights; Johnson's has 1.7 M).

**Painting on top of the photo** (``skip=True``, the default): the paper's optimisation
starts from the photo and changes it; a network can do the same by adding its output
:math:`r` to the photo in logit space,

.. math:: x = \sigma\big(\operatorname{logit}(p) + r\big),

with the last convolution starting near zero, so that an untrained network returns almost
the photo (content loss near 0) and training only has to learn the change. Without it, a
small network trained on few photos can settle on painting the same texture whatever the
photo (BENCHMARKS.md, "Shipped style networks").
Borders are padded by reflection, as Ulyanov et al. do, so that no dark frame appears.

**Instance normalisation** (Ulyanov, Vedaldi & Lempitsky 2016) normalises every channel of
*every image on its own*, over its positions :math:`(h, w)`:

.. math:: \operatorname{IN}(x)_{bc} = \gamma_c \, \frac{x_{bc} - \mu_{bc}}{\sqrt{\sigma^2_{bc}
          + \epsilon}} + \beta_c, \qquad \mu_{bc} = \frac{1}{HW} \sum_{h,w} x_{bchw},

so the photo's contrast never reaches the next layer, which batch normalisation (statistics
over the whole batch) lets through.

**Conditional instance normalisation** (Dumoulin, Shlens & Kudlur 2017) gives each of
:math:`S` styles its own scale and shift: tables :math:`\Gamma, B \in R^{S \times C}` per
norm layer. A picture painted with a *mix* :math:`m \in R^{S}` (shares summing to 1; a
one-hot row for one style) uses

.. math:: \gamma = m\,\Gamma, \qquad \beta = m\,B,

so a batch of mixes ``mix`` (``B × S``) gives ``gamma = mix @ Gamma``. Everything else is
shared by all styles: a new style costs :math:`2 C` numbers per norm layer.

Models are saved in safetensors (weights only, nothing executable) with their architecture,
style names and training record as JSON metadata (:func:`save_model`, :func:`load_model`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..assets import model_files
from ..checks import first_non_finite
from ..errors import NSTError, one_line

#: Added to the variance before the square root (torch's instance-norm default).
EPS = 1e-5
#: With ``skip``, the last convolution's initial weights are scaled by this: a new network
#: returns the photo changed by well under one grey level in a hundred.
SKIP_INIT_SCALE = 1e-2
#: Photo values are clamped to ``[LOGIT_EPS, 1 - LOGIT_EPS]`` before the logit (``skip``).
LOGIT_EPS = 1e-3
#: What a model file's metadata says it is (decoders and others are stored alike).
KIND = "StyleNet"


class ConditionalInstanceNorm(nn.Module):
    r"""Instance norm with a scale :math:`\gamma` and shift :math:`\beta` per style.

    ``gamma`` and ``beta`` are ``styles × channels`` tables (:math:`\Gamma`, :math:`B`);
    ``forward(x, mix)`` normalises each image's channels and applies
    ``mix @ gamma`` and ``mix @ beta`` (module docstring).
    """

    def __init__(self, channels: int, styles: int = 1) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(styles, channels))
        self.beta = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        normalised = F.instance_norm(x, eps=EPS)
        gamma = (mix @ self.gamma)[:, :, None, None]
        beta = (mix @ self.beta)[:, :, None, None]
        return normalised * gamma + beta


class _Conv(nn.Module):
    """Convolution (reflection padding), conditional instance norm, optional ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, styles: int, stride: int = 1,
                 relu: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, padding_mode="reflect")
        self.norm = ConditionalInstanceNorm(c_out, styles)
        self.relu = relu

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x), mix)
        return F.relu(x) if self.relu else x


class _Residual(nn.Module):
    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.first = _Conv(channels, channels, 3, styles)
        self.second = _Conv(channels, channels, 3, styles, relu=False)

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x, mix), mix)


class StyleNet(nn.Module):
    """The transformer: ``net(photo, mix) -> painting``, both ``(B, 3, H, W)`` in ``[0, 1]``.

    ``mix`` is ``B × styles`` (or ``1 × styles`` for the whole batch, e.g. from
    :func:`style_mix`); ``None`` means style 0, the only one of a single-style model. Any
    size works: the upsampling returns to the encoder's shapes.
    """

    def __init__(self, styles: int = 1, channels: int = 32, blocks: int = 5,
                 skip: bool = True) -> None:  # fmt: skip
        super().__init__()
        if styles < 1 or channels < 1 or blocks < 0:
            raise ValueError("a StyleNet needs at least one style and one channel")
        self.styles, self.channels, self.blocks, self.skip = styles, channels, blocks, skip
        self.style_names = [f"style{i}" for i in range(styles)]
        self.record: dict = {}
        c = channels
        self.down = nn.ModuleList([
            _Conv(3, c, 9, styles), _Conv(c, 2 * c, 3, styles, 2),
            _Conv(2 * c, 2 * c, 3, styles, 2),
        ])  # fmt: skip
        self.residual = nn.ModuleList([_Residual(2 * c, styles) for _ in range(blocks)])
        self.up = nn.ModuleList([_Conv(2 * c, 2 * c, 3, styles), _Conv(2 * c, c, 3, styles)])
        self.out = nn.Conv2d(c, 3, 9, padding=4, padding_mode="reflect")
        if skip:  # an untrained network returns almost the photo, and gradients still flow
            with torch.no_grad():
                self.out.weight.mul_(SKIP_INIT_SCALE)
                self.out.bias.zero_()

    def architecture(self) -> dict[str, int | bool]:
        """The constructor's arguments (saved with the weights)."""
        return {"styles": self.styles, "channels": self.channels, "blocks": self.blocks,
                "skip": self.skip}  # fmt: skip

    def forward(self, photo: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        mix = self._mix(mix, photo)
        x = self.down[0](photo, mix)
        shapes = []
        for layer in self.down[1:]:
            shapes.append(x.shape[-2:])
            x = layer(x, mix)
        for block in self.residual:
            x = block(x, mix)
        for layer, shape in zip(self.up, reversed(shapes), strict=True):
            x = layer(F.interpolate(x, size=tuple(shape), mode="nearest"), mix)
        if self.skip:
            return torch.sigmoid(torch.logit(photo, eps=LOGIT_EPS) + self.out(x))
        return torch.sigmoid(self.out(x))

    def _mix(self, mix: torch.Tensor | None, photo: torch.Tensor) -> torch.Tensor:
        """``mix`` as a ``B × styles`` matrix on the photo's device and type."""
        if mix is None:
            mix = style_mix(self, 0)
        if mix.dim() != 2 or mix.shape[1] != self.styles or mix.shape[0] not in (1, len(photo)):
            raise ValueError(
                f"mix of shape {tuple(mix.shape)}: expected (1 or {len(photo)}, {self.styles})"
            )
        return mix.to(photo.device, photo.dtype).expand(len(photo), -1)


def style_mix(net: StyleNet, weights: int | Sequence[float]) -> torch.Tensor:
    """A ``1 × styles`` mix: style number ``weights`` alone, or the shares of ``weights``.

    ``style_mix(net, [0.7, 0.3])`` paints with 70 % of style 0's scales and shifts and 30 % of
    style 1's. Weights must be one per style, non-negative, and not all zero; they are
    divided by their total.
    """
    if isinstance(weights, int):
        if not 0 <= weights < net.styles:
            raise NSTError(f"style {weights}: the model has styles 0 to {net.styles - 1}")
        return F.one_hot(torch.tensor([weights]), net.styles).float()
    values = torch.tensor([float(w) for w in weights]).view(1, -1)
    if values.shape[1] != net.styles:
        raise NSTError(
            f"style mix of {values.shape[1]} weights for a model of {net.styles} styles "
            f"({', '.join(net.style_names)}): give one weight per style"
        )
    if not torch.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise NSTError("style mix weights must be finite, >= 0 and not all zero, e.g. 0.7,0.3")
    return values / values.sum()


def style_tables(net: StyleNet) -> list[nn.Parameter]:
    r"""Every :math:`\Gamma` and :math:`B` table of ``net``: all that differs between styles."""
    return [t for m in net.modules() if isinstance(m, ConditionalInstanceNorm)
            for t in (m.gamma, m.beta)]  # fmt: skip


def add_style(net: StyleNet, name: str) -> StyleNet:
    r"""A copy of ``net`` with one more style, ``name``, whose tables start as the mean of the
    others' (a blend of all styles): train only :func:`style_tables` to learn it."""
    device = next(net.parameters()).device
    bigger = StyleNet(net.styles + 1, net.channels, net.blocks, net.skip).to(device)
    state = net.state_dict()
    for key, value in state.items():
        if key.endswith((".gamma", ".beta")):
            state[key] = torch.cat([value, value.mean(dim=0, keepdim=True)])
    bigger.load_state_dict(state)
    bigger.style_names = [*net.style_names, name]
    bigger.record = dict(net.record)
    return bigger


# --------------------------------------------------------------------------- files


def save_model(net: StyleNet, path: str | os.PathLike, record: dict) -> Path:
    """Write ``net``'s weights as safetensors with JSON metadata, atomically.

    The metadata holds the architecture, the style names and ``record`` (how the model was
    made: command, data, settings, steps, seed, time, machine), so anyone can retrain it.
    """
    bad = first_non_finite(net.state_dict())
    if bad is not None:
        raise NSTError(f"{path}: not saved: the network's weights hold NaN or infinite values "
                       f"({bad}); the training diverged, lower --lr")  # fmt: skip
    meta = {"kind": KIND, "architecture": net.architecture(), "style_names": net.style_names,
            "record": record}  # fmt: skip
    return model_files.save_network(net, path, meta)


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a model file (header only), or a one-line :class:`NSTError`."""
    path = Path(path)
    try:
        meta = model_files.read_metadata(path)
    except FileNotFoundError:
        raise NSTError(f"{path}: model file not found; see 'nst paint --list'") from None
    except IsADirectoryError:
        raise NSTError(f"{path}: is a folder; give a model file (.safetensors)") from None
    except KeyError:
        raise NSTError(f"{path}: a safetensors file without this kit's metadata, not a style "
                       "model of this kit; train one with 'nst train-style'") from None
    except (OSError, ValueError, TypeError, json.JSONDecodeError) as err:
        raise NSTError(
            f"{path}: not a style model of this kit ({type(err).__name__}); train one with "
            "'nst train-style'"
        ) from None
    except Exception as err:  # safetensors' own error for a damaged header
        raise NSTError(f"{path}: damaged model file ({one_line(err)}); train it again") from None
    if not isinstance(meta, dict):
        raise NSTError(f"{path}: its metadata is not this kit's; train it again")
    return meta


#: What a style model's metadata must hold, and the type of each.
REQUIRED = {"architecture": dict, "style_names": list}


def load_model(name_or_path: str | os.PathLike, device: torch.device | str = "cpu") -> StyleNet:
    """A :class:`StyleNet` from a model file, or a shipped model by name (:func:`shipped_models`).

    ``net.record`` is the training record saved with it; ``net.style_names`` its styles. A
    file whose metadata lacks a field, whose weights do not fit, or whose weights hold NaN or
    an infinity (it would paint black) is refused in one line.
    """
    path = model_path(name_or_path)
    meta = read_metadata(path)
    if meta.get("kind") != KIND:
        raise NSTError(f"{path}: a {meta.get('kind')} model, not a style network")
    for key, kind in REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise NSTError(f"{path}: its metadata lacks {key!r} ({kind.__name__}); an incomplete "
                           "model file: train it again with 'nst train-style'")  # fmt: skip
    try:
        net = StyleNet(**{"skip": False, **meta["architecture"]})  # older files: no skip
        net.load_state_dict(model_files.read_weights(path), strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise NSTError(f"{path}: weights do not fit the architecture ({one_line(err)})") from None
    bad = first_non_finite(net.state_dict())
    if bad is not None:
        raise NSTError(f"{path}: damaged model: its weights hold NaN or infinite values ({bad}); "
                       "train it again")  # fmt: skip
    if len(meta["style_names"]) != net.styles:
        raise NSTError(f"{path}: its metadata names {len(meta['style_names'])} styles for a "
                       f"network of {net.styles}; train it again")  # fmt: skip
    net.style_names = [str(name) for name in meta["style_names"]]
    net.record = dict(meta.get("record") or {})
    return net.to(device).eval().requires_grad_(False)


def model_path(name_or_path: str | os.PathLike) -> Path:
    """The file of a model: an existing path, else a shipped model's name."""
    return model_files.find_model(name_or_path, KIND)


def shipped_models() -> list[str]:
    """Names of the shipped style networks (possibly none)."""
    return list(model_files.shipped(KIND))


def _steps_done(record: dict) -> list[int]:
    """The steps of each run behind a model, first run first: a run started ``--from``
    another model (``record["started_from"]``) adds its steps to that model's."""
    parent = record.get("started_from", {}).get("record")
    steps = record.get("steps", record.get("settings", {}).get("steps"))
    return (_steps_done(parent) if parent else []) + ([int(steps)] if steps is not None else [])


def describe(name: str) -> str:
    """One line for ``nst paint --list``: the name first, then its styles and training."""
    meta = read_metadata(model_path(name))
    record = meta.get("record") or {}
    steps = "+".join(str(n) for n in _steps_done(record)) or None
    done = {"size": record.get("settings", {}).get("size"), "steps": steps}
    trained = ", ".join(f"{key} {value}" for key, value in done.items() if value is not None)
    styles = ", ".join(meta.get("style_names", []))
    return f"{name}  styles: {styles}" + (f"  ({trained})" if trained else "")

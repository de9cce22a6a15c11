"""Where a shipped network's loss lies: each style layer's share against the optimisation's.

For each shipped single-style model and held-out photo, at 256 px under the default settings
(those of ``nst score``): the content term and each style layer's term β w_l E_l of

* the network's picture (one pass), and
* the paper's optimisation after 50 L-BFGS iterations from the photo (the quality bar).

Usage, from the repository root: ``python benchmarks/results/<this folder>/breakdown.py``;
writes ``breakdown.json`` beside this file and prints one line per picture.
"""

import json  # noqa: I001  (nst_utils before torch, as the kit's entry points)
from pathlib import Path

import nst_utils  # noqa: F401
import torch
from nst_utils.networks.fast_style import paint
from nst_utils.assets.images import load_image, match_size
from nst_utils.paper.layers import CONTENT_LAYERS, STYLE_LAYERS
from nst_utils.paper.losses import style_loss
from nst_utils.paper.objective import ContentTarget, StyleTarget, default_style_weight, positions
from nst_utils.networks.painter import load_model, shipped_models
from nst_utils.networks.photos import HELD_OUT_PHOTOS
from nst_utils.paper.pipeline import Settings, _picture, stylize
from nst_utils.paper.vgg import load_vgg

SIZE, BAR_ITERATIONS = 256, 50


def terms(net, picture, content: ContentTarget, style: StyleTarget, beta: float) -> dict:
    """The content term and β w_l E_l for every style layer of ``picture``."""
    with torch.no_grad():
        features = net(picture, tuple(dict.fromkeys((*CONTENT_LAYERS, *STYLE_LAYERS))))
        out = {"content": content.loss(features).item()}
        for layer in STYLE_LAYERS:
            target = {layer: style.grams[layer] * positions(features[layer])}
            weight = {layer: style.layer_weights[layer]}
            out[layer] = beta * style_loss({layer: features[layer]}, target, weight).item()
    out["total"] = sum(out.values())
    return out


def main() -> None:
    net = load_vgg(pooling="avg", verbose=False)
    beta = default_style_weight(net)
    rows = []
    for name in shipped_models():
        model = load_model(name)
        if model.styles != 1:
            continue
        painting = model.record["styles"][0]
        for photo in HELD_OUT_PHOTOS:
            network = paint(model, load_image(photo, SIZE))
            run = stylize(net, photo, painting, Settings(size=SIZE, steps=BAR_ITERATIONS + 1),
                          progress=False)  # fmt: skip
            device = net.mean.device
            content = ContentTarget(net, match_size(_picture(photo, SIZE, device), network))
            style = StyleTarget(net, _picture(painting, SIZE, device))
            for method, picture in (("network", network), ("optimisation_50", run.image)):
                row = {"model": name, "photo": photo, "method": method,
                       **terms(net, picture, content, style, beta)}  # fmt: skip
                rows.append(row)
                print(" ".join(f"{k} {v:.3g}" if isinstance(v, float) else str(v)
                               for k, v in row.items()), flush=True)  # fmt: skip
    (Path(__file__).parent / "breakdown.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

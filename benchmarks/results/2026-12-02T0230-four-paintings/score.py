"""The multi-style model before and after its continued training, on the held-out photos.

For each model given (a shipped name or a model file), each of its
styles and each held-out photo: the network's picture at 256 px (one pass, that style alone)
and its total loss under the default settings (``nst score``'s objective against that style's
painting). Writes ``score.json`` and one sheet per model (``<label>.png``: a row per photo, a
column per style) beside this file.

Usage, from the repository root:
``python benchmarks/results/<this folder>/score.py LABEL=MODEL [LABEL=MODEL ...]``; the
recorded run was ``before=four_paintings`` (the interim file) ``after=<the new run's file>``.
"""

import json
import sys
from pathlib import Path

import nst_utils  # noqa: F401  (before torch, as the kit's entry points)
from nst_utils.assets.images import load_image
from nst_utils.display.figures import image_grid
from nst_utils.networks.fast_style import paint
from nst_utils.networks.painter import load_model, style_mix
from nst_utils.networks.photos import HELD_OUT_PHOTOS
from nst_utils.paper.pipeline import score
from nst_utils.paper.vgg import load_vgg

SIZE = 256
HERE = Path(__file__).parent


def main(pairs: list[str]) -> None:
    net = load_vgg(pooling="avg", verbose=False)
    rows = []
    for pair in pairs:
        label, name = pair.split("=", 1)
        model = load_model(name)
        sheet, captions = [], []
        for photo in HELD_OUT_PHOTOS:
            picture = load_image(photo, SIZE)
            styles = range(model.styles)
            painted = [paint(model, picture, style_mix(model, i)) for i in styles]
            totals = [score(net, painted[i], photo, model.style_names[i]).total.item()
                      for i in styles]  # fmt: skip
            for i in styles:
                row = {"model": label, "file": name, "photo": photo,
                       "style": model.style_names[i], "total": totals[i]}  # fmt: skip
                rows.append(row)
                print(row, flush=True)
            sheet.append(painted)
            captions.append([f"total {t:.3g}" for t in totals])
        figure = image_grid(sheet, row_labels=list(HELD_OUT_PHOTOS),
                            col_labels=model.style_names, captions=captions,
                            title=f"{label}: held-out photos, {SIZE} px")  # fmt: skip
        figure.savefig(HERE / f"{label}.png", dpi=80)
    (HERE / "score.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])

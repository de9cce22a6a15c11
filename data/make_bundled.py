"""Rebuild the bundled example photos and textures from scikit-image's own data.

Run from the repository root: ``.venv/bin/python data/make_bundled.py``. Every image comes
from the ``skimage.data`` module of the registry package scikit-image; licences are recorded
in ``data/README.md``. Images are resized to a longest side of 384 px to keep the repo small.
"""

from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

LONGEST_SIDE = 384
NAMES = (
    "chelsea", "coffee", "astronaut", "rocket", "brick", "hubble_deep_field",
    "retina", "immunohistochemistry",
)


def main() -> None:
    folder = Path(__file__).resolve().parent
    for name in NAMES:
        image = Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB")
        scale = LONGEST_SIDE / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        image.resize(size, Image.Resampling.LANCZOS).save(folder / f"{name}.jpg", quality=90)
        print(f"{name}.jpg {size[0]}x{size[1]}")


if __name__ == "__main__":
    main()

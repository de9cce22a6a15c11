"""Rebuild the bundled example photos and textures from registry packages' own data.

Run from the repository root: ``.venv/bin/python data/make_bundled.py``. The images come
from the ``skimage.data`` module of scikit-image and one from matplotlib's sample data;
licences are recorded in ``data/README.md``. Images are resized to a longest side of
384 px to keep the repo small (grey pictures are stored as RGB).
"""

from pathlib import Path

import matplotlib
import numpy as np
import skimage.data
from PIL import Image

LONGEST_SIDE = 384
NAMES = (
    "chelsea", "coffee", "astronaut", "rocket", "brick", "hubble_deep_field",
    "retina", "immunohistochemistry", "camera", "coins", "grass", "gravel",
)
#: Pictures from matplotlib's sample data (name: file).
MATPLOTLIB_NAMES = {"grace_hopper": "grace_hopper.jpg"}


def _pictures() -> dict[str, Image.Image]:
    pictures = {name: Image.fromarray(np.asarray(getattr(skimage.data, name)())) for name in NAMES}
    sample_data = Path(matplotlib.get_data_path()) / "sample_data"
    for name, file in MATPLOTLIB_NAMES.items():
        pictures[name] = Image.open(sample_data / file)
    return pictures


def main() -> None:
    folder = Path(__file__).resolve().parent
    for name, picture in _pictures().items():
        image = picture.convert("RGB")
        scale = LONGEST_SIDE / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        image.resize(size, Image.Resampling.LANCZOS).save(folder / f"{name}.jpg", quality=90)
        print(f"{name}.jpg {size[0]}x{size[1]}")


if __name__ == "__main__":
    main()

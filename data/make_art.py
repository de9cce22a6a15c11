"""Generate the project's own style image, ``swirls.png`` (CC0, made by this script).

A small "painting" of thick, coloured brush strokes that follow a swirling flow field, so that
its style (stroke shape, scale and palette) is unmistakable when transferred. Deterministic:
the same script always writes the same picture. Run: ``.venv/bin/python data/make_art.py``.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = (384, 384)
SEED = 2015
PALETTE = [
    (233, 196, 106),
    (244, 162, 97),
    (231, 111, 81),
    (42, 157, 143),
    (38, 70, 83),
    (142, 202, 230),
    (255, 237, 180),
]


def flow_angle(x: float, y: float) -> float:
    """Direction of the strokes at (x, y): three vortices on a gentle diagonal drift."""
    angle = 0.6
    for cx, cy, spin in ((0.3, 0.35, 1.0), (0.72, 0.3, -1.0), (0.5, 0.75, 1.0)):
        dx, dy = x - cx, y - cy
        angle += spin * np.exp(-(dx * dx + dy * dy) / 0.05) * (np.arctan2(dy, dx) + np.pi / 2)
    return angle


def main() -> None:
    rng = np.random.default_rng(SEED)
    width, height = SIZE
    canvas = Image.new("RGB", SIZE, (20, 33, 61))
    draw = ImageDraw.Draw(canvas)
    for _ in range(2600):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        colour = PALETTE[rng.integers(len(PALETTE))]
        points = [(x, y)]
        for _ in range(rng.integers(6, 14)):
            a = flow_angle(x / width, y / height)
            x, y = x + 4 * np.cos(a), y + 4 * np.sin(a)
            points.append((x, y))
        draw.line(points, fill=colour, width=int(rng.integers(3, 7)), joint="curve")
    canvas = canvas.filter(ImageFilter.SMOOTH_MORE)
    path = Path(__file__).resolve().parent / "swirls.png"
    canvas.save(path, optimize=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""A slider through β/α: computed results appear at once, new ones on demand (notebook 04).

Each β/α is one run of :func:`nst_utils.paper.pipeline.run` with the explorer's settings and that
``style_weight``, in a background thread (:class:`~nst_utils.display.widgets.base.Background`); the
image previews while it runs, and only completed runs are kept.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence

import ipywidgets as W
import torch

from ...assets.calibration import default_style_weight
from ...config import pick
from ...paper import pipeline
from ...paper.layers import CONTENT_LAYERS, STYLE_LAYERS
from ...paper.optimize import Result
from ...paper.vgg import VGGFeatures
from .base import Images, ImageSet, RunningExplorer, device_of
from .render import image_widget, png_bytes

#: β/α values of the ratio explorer, as multiples of the network's default β
#: (:func:`~nst_utils.assets.calibration.default_style_weight`): from "content dominates" to "style
#: dominates".
DEFAULT_RATIOS = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)


class RatioExplorer(RunningExplorer):
    """Slide through β/α: cached results appear at once, new ones are computed on demand.

    ``ratio`` is a selection slider over ``ratios``. A value not yet in ``results`` is queued
    and computed in a background thread (``progress`` and ``status`` show how far it is; the
    image previews while it runs). ``compute_button`` computes the selected value,
    ``compute_all`` queues every missing one, ``stop_button`` cancels (partial results are
    not kept). ``precomputed`` seeds the cache, e.g. with a sweep the notebook already ran
    with the same settings. ``settings`` are the pipeline settings of every run (its
    ``style_weight`` is the slider's β/α, with ``content_weight`` α = 1).
    """

    def __init__(
        self,
        net: VGGFeatures,
        images: Images = None,
        *,
        content: str | None = None,
        style: str | None = None,
        size: int | None = None,
        ratios: Iterable[float] | None = None,
        ratio: float | None = None,
        steps: int | None = None,
        init: str = "content",
        content_layers: Sequence[str] = CONTENT_LAYERS,
        style_layers: Sequence[str] = STYLE_LAYERS,
        optimizer: str = "lbfgs",
        lr: float | None = None,
        seed: int = 0,
        precomputed: Mapping[float, torch.Tensor | Result] | None = None,
        compute_on_change: bool = True,
    ) -> None:
        super().__init__()
        self.net = net
        self.images = ImageSet(images, size or pick(256, 32), device_of(net))
        names = self.images.names
        self.content_name = content or names[0]
        self.style_name = style or names[-1]
        net.check_layers([*content_layers, *style_layers])
        self.settings = pipeline.Settings(
            steps=steps or pick(100, 3), content_weight=1.0, content_layers=tuple(content_layers),
            style_layers=tuple(style_layers), init=init, optimizer=optimizer, lr=lr, seed=seed,
        )  # fmt: skip
        self.compute_on_change = compute_on_change
        self.results: dict[float, torch.Tensor] = {}
        for r, value in (precomputed or {}).items():
            self.results[float(r)] = value.image if isinstance(value, Result) else value
        self._queue: list[float] = []
        self.computing: float | None = None
        self._active = False
        self._build_controls(ratios, ratio)
        self.redraw()

    def _build_controls(self, ratios: Iterable[float] | None, ratio: float | None) -> None:
        beta = default_style_weight(self.net)
        if ratios is None:
            ratios = [float(f"{beta * f:.3g}") for f in DEFAULT_RATIOS]
        ratios = sorted({float(r) for r in ratios} | set(self.results))
        if ratio is None:  # the value nearest the network's default β on a log scale
            ratio = min(ratios, key=lambda r: abs(math.log(max(r, 1e-30)) - math.log(beta)))
        self.ratio = W.SelectionSlider(
            options=[(f"{r:g}", r) for r in ratios], value=float(ratio), description="β/α",
            continuous_update=False, layout=W.Layout(width="420px"),
        )  # fmt: skip
        self.ratio.add_class("nst-ratio")
        self.compute_button = W.Button(description="compute this", icon="play")
        self.compute_all = W.Button(description="compute all", icon="forward")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop")
        self.progress = W.IntProgress(value=0, min=0, max=self.settings.steps, description="step")
        self.status = W.HTML()
        self.status.add_class("nst-ratio-status")
        self.title = W.HTML()
        self.title.add_class("nst-ratio-title")
        self.image_widget = image_widget("nst-ratio-image", "320px")
        self.ratio.observe(self._on_ratio, "value")
        self.compute_button.on_click(lambda _b: self.request(self.ratio.value))
        self.compute_all.on_click(lambda _b: self.request(*(v for _, v in self.ratio.options)))
        self.stop_button.on_click(lambda _b: self.stop())
        self.widget = W.VBox(
            [
                W.HBox([self.ratio, self.compute_button, self.compute_all, self.stop_button]),
                W.HBox([self.progress, self.status]),
                self.title,
                self.image_widget,
            ]
        )
        self.widget.add_class("nst-ratio-explorer")

    def _on_ratio(self, _change) -> None:
        self.redraw()
        if self.ratio.value not in self.results and self.compute_on_change:
            self.request(self.ratio.value)

    def _draw(self) -> None:
        r = self.ratio.value
        if r in self.results:
            self.image_widget.value = png_bytes(self.results[r])
            self.title.value = (
                f"β/α = <b>{r:g}</b> ({self.settings.steps} steps from "
                f"{html.escape(self.settings.init)}; content {html.escape(self.content_name)}, "
                f"style {html.escape(self.style_name)})"
            )
        else:
            queued = r == self.computing or r in self._queue
            self.title.value = f"β/α = <b>{r:g}</b>: " + (
                "computing…" if queued else "not computed yet: press <i>compute this</i>"
            )
        self._status()

    def _status(self) -> None:
        done = ", ".join(f"{r:g}" for r in sorted(self.results)) or "none"
        busy = f"computing β/α = {self.computing:g}; " if self.computing is not None else ""
        waiting = f"queued: {', '.join(f'{r:g}' for r in self._queue)}; " if self._queue else ""
        self.status.value = f"{busy}{waiting}cached: {done}"

    def request(self, *ratios: float) -> None:
        """Queue ``ratios`` not yet computed and start the worker if it is idle."""
        with self._bg.lock:
            for r in map(float, ratios):
                if r not in self.results and r != self.computing and r not in self._queue:
                    self._queue.append(r)
            if self._queue and not self._active:
                self._active = True
                self._bg.start(self._work)
        self._draw()

    def stop(self) -> None:
        """Cancel the queue and the run in progress (which is not kept)."""
        with self._bg.lock:
            self._queue.clear()
        self._bg.stop_event.set()

    def _next(self) -> float | None:
        """Take the next value off the queue, the selected one first (call under the lock)."""
        if not self._queue:
            self.computing, self._active = None, False
            return None
        selected = self.ratio.value
        r = selected if selected in self._queue else self._queue[0]
        self._queue.remove(r)
        self.computing = r
        return r

    def _work(self) -> None:
        while True:
            with self._bg.lock:
                r = self._next()
            if r is None:
                break
            try:
                self._status()
                image = self._compute(r)
            except Exception as err:
                self.show_error(err, self.status)
                with self._bg.lock:
                    self.computing, self._active = None, False
                    self._queue.clear()
                return
            with self._bg.lock:
                if image is not None:
                    self.results[r] = image
                self.computing = None
                self._bg.stop_event.clear()
            if self.ratio.value == r:
                self._draw()
            else:
                self._status()
        self._status()

    def _compute(self, r: float) -> torch.Tensor | None:
        """One run at β/α = ``r``; its image, or ``None`` if it was stopped."""
        steps = self.settings.steps
        self.progress.max, self.progress.value = steps, 0
        every = max(1, steps // 10)

        def preview(iteration: int, image: torch.Tensor, losses: dict) -> None:
            self.progress.value = iteration
            if self.ratio.value == r and iteration % every == 0:
                self.image_widget.value = png_bytes(image)
                self.title.value = f"β/α = <b>{r:g}</b>: computing, iteration {iteration}/{steps}"

        result = pipeline.run(
            self.net, self.images[self.content_name], self.images[self.style_name],
            self.settings.updated(style_weight=r), callback=preview, callback_every=1,
            stop=self._bg.stop_event, progress=False,
        )  # fmt: skip
        return result.image if result.status == "completed" else None

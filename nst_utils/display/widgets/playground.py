"""Content reconstruction, texture synthesis and style transfer from one panel (notebook 05).

The run itself is :func:`nst_utils.paper.pipeline.run`, the kit's one pipeline, in a background
thread (:class:`~nst_utils.display.widgets.base.Background`): the kernel stays free to receive the
Stop click, which sets the pipeline's ``stop`` event; the pipeline then returns after the
current step with the best image so far. Previews are pushed to the image widget from its
callback. A run that would not fit in memory is refused by the engine with a message, shown
in ``status``, before it allocates.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import ipywidgets as W
import torch

from ...assets.calibration import default_style_weight
from ...checks import INITS
from ...config import pick
from ...paper import pipeline
from ...paper.layers import CONTENT_LAYERS, STYLE_LAYERS
from ...paper.optimize import initial_image
from ...paper.vgg import VGGFeatures
from .base import Images, ImageSet, RunningExplorer, device_of
from .render import image_widget, png_bytes

WIDE = {"description_width": "90px"}


class Playground(RunningExplorer):
    """Choose layers, β/α, init and steps, press Run, watch, press Stop.

    Content layers and style layers may each be empty: no style layers is a content
    reconstruction, no content layers a texture synthesis. ``ratio`` is β/α on a log-scale
    slider; ``run_button`` starts the pipeline in a background thread; ``image_widget``
    shows the image every ``preview_every`` steps; ``stop_button`` ends the run after the
    current step and shows the **best** image so far. After a run, ``result`` is the
    pipeline's result (``None`` if the run failed; ``last_error`` then says why).
    """

    def __init__(
        self,
        net: VGGFeatures,
        images: Images = None,
        *,
        content: str | None = None,
        style: str | None = None,
        size: int | None = None,
        content_layers: Sequence[str] = CONTENT_LAYERS,
        style_layers: Sequence[str] = STYLE_LAYERS,
        ratio: float | None = None,
        init: str = "noise",
        steps: int | None = None,
        preview_every: int | None = None,
        optimizer: str = "lbfgs",
        lr: float | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.net = net
        self.images = ImageSet(images, size or pick(256, 32), device_of(net))
        self.optimizer = optimizer
        self.lr = lr
        self.seed = seed
        self.result: pipeline.Result | None = None
        net.check_layers([*content_layers, *style_layers])
        self._build_controls(content, style, content_layers, style_layers, ratio, init)
        self.steps = W.IntSlider(
            value=steps or pick(200, 4), min=1, max=1000, description="steps", style=WIDE
        )
        self.steps.add_class("nst-steps")
        self.preview_every = W.IntSlider(
            value=preview_every or pick(10, 2), min=1, max=100, description="preview every",
            style=WIDE,
        )  # fmt: skip
        self.run_button = W.Button(description="Run", button_style="success", icon="play")
        self.run_button.add_class("nst-run")
        self.stop_button = W.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.stop_button.add_class("nst-stop")
        self.progress = W.IntProgress(value=0, min=0, max=self.steps.value, description="step")
        self.status = W.HTML("Choose layers and weights, then press <b>Run</b>.")
        self.status.add_class("nst-playground-status")
        self.title = W.HTML()
        self.title.add_class("nst-playground-title")
        self.image_widget = image_widget("nst-playground-image", "320px")
        self.run_button.on_click(lambda _b: self.run())
        self.stop_button.on_click(lambda _b: self.stop())
        for control in (self.content_image, self.style_image, self.init):
            control.observe(self._on_change, "value")
        self.widget = self._layout()
        self.widget.add_class("nst-playground")
        self.redraw()

    def _build_controls(self, content, style, content_layers, style_layers, ratio, init) -> None:
        names, layers = self.images.names, list(self.net.layer_names)
        self.content_image = W.Dropdown(
            options=names, value=content or names[0], description="content", style=WIDE
        )
        self.style_image = W.Dropdown(
            options=names, value=style or names[-1], description="style", style=WIDE
        )
        self.content_layers = W.SelectMultiple(
            options=layers, value=tuple(content_layers), rows=8, description="content layers",
            style=WIDE,
        )  # fmt: skip
        self.style_layers = W.SelectMultiple(
            options=layers, value=tuple(style_layers), rows=8, description="style layers",
            style=WIDE,
        )  # fmt: skip
        beta = default_style_weight(self.net)
        centre = math.log10(beta)  # 2 on torchvision's VGGs; β₀ itself is on the slider's grid
        self.ratio = W.FloatLogSlider(
            value=beta if ratio is None else ratio, base=10, min=centre - 4, max=centre + 3,
            step=0.25, description="β/α", readout_format=".3g", style=WIDE,
        )  # fmt: skip
        self.init = W.Dropdown(options=list(INITS), value=init, description="init", style=WIDE)

    def _layout(self) -> W.VBox:
        left = W.VBox(
            [self.content_image, self.style_image, self.ratio, self.init, self.steps,
             self.preview_every]
        )  # fmt: skip
        return W.VBox(
            [
                W.HBox([left, W.VBox([self.content_layers, self.style_layers])]),
                W.HBox([self.run_button, self.stop_button, self.progress]),
                self.status,
                self.title,
                self.image_widget,
            ]
        )

    def _draw(self) -> None:
        """Before a run: show the starting image."""
        if self.running:
            return
        self.image_widget.value = png_bytes(self._init_image())
        self.title.value = f"start: {html.escape(self.init.value)}"

    def _init_image(self) -> torch.Tensor:
        content = self.images[self.content_image.value]
        style = self.images[self.style_image.value]
        return initial_image(self.init.value, content, style, seed=self.seed)

    def settings(self) -> pipeline.Settings:
        """The pipeline's settings for the controls as they are now."""
        return pipeline.Settings(
            steps=self.steps.value,
            content_weight=1.0,
            style_weight=self.ratio.value if self.content_layers.value else 1.0,
            content_layers=tuple(self.content_layers.value) or CONTENT_LAYERS,
            style_layers=tuple(self.style_layers.value) or STYLE_LAYERS,
            init=self.init.value,
            optimizer=self.optimizer,
            lr=self.lr,
            seed=self.seed,
        )

    def run(self, *, block: bool = False) -> None:
        """Start a run with the current settings (in the background unless ``block``)."""
        if self.running:
            return
        if not self.content_layers.value and not self.style_layers.value:
            self.status.value = "<b style='color:#b00'>Choose at least one layer.</b>"
            return
        settings = self.settings()
        content = self.images[self.content_image.value] if self.content_layers.value else None
        style = self.images[self.style_image.value] if self.style_layers.value else None
        start = self._init_image()
        self.progress.max, self.progress.value = settings.steps, 0
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.result = None
        self._bg.start(lambda: self._work(content, style, start, settings))
        if block:
            self.wait()

    def stop(self) -> None:
        """End the run after the current step; the best image so far is kept and shown."""
        if self.running:
            self._bg.stop_event.set()
            self.status.value = "stopping after this step…"

    def _work(self, content, style, start, settings: pipeline.Settings) -> None:
        what = (
            "style transfer" if content is not None and style is not None
            else "content reconstruction" if content is not None
            else "texture synthesis"
        )  # fmt: skip
        every, steps = self.preview_every.value, settings.steps

        def preview(iteration: int, image: torch.Tensor, losses: dict) -> None:
            self.progress.value = iteration
            if iteration % every == 0 or iteration == steps:
                self.image_widget.value = png_bytes(image)
                self.title.value = (
                    f"{what}, iteration {iteration}/{steps}: loss {losses['total']:.4g}"
                )

        try:
            self.status.value = f"{what}: running…"
            result = pipeline.run(
                self.net, content, style, settings, init=start, callback=preview,
                callback_every=1, stop=self._bg.stop_event, progress=False,
            )  # fmt: skip
            self.result = result
            self._show_result(what, result, steps)
        except Exception as err:
            self.show_error(err, self.status)
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _show_result(self, what: str, result: pipeline.Result, steps: int) -> None:
        self.image_widget.value = png_bytes(result.image)
        best = result.history[result.best_iteration - 1]["total"] if result.history else 0
        stopped = result.status != "completed"
        self.title.value = (
            f"{what}: {'stopped at' if stopped else 'finished'} iteration "
            f"{len(result.history)}/{steps}; showing the best image "
            f"(iteration {result.best_iteration}, loss {best:.4g})"
        )
        self.status.value = f"{'stopped' if stopped else 'finished'} after {result.seconds:.1f} s"

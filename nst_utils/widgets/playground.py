"""Content reconstruction, texture synthesis and style transfer from one panel (notebook 05).

Interim: the run is built here from the objective and the engine; it moves to
:func:`nst_utils.pipeline.run` when the pipeline lands.
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Callable, Sequence

import ipywidgets as W
import torch

from ..checks import INITS
from ..config import pick
from ..objective import CONTENT_LAYERS, STYLE_LAYERS, build_objective, default_style_weight
from ..optimize import Result, initial_image
from ..vgg import VGGFeatures
from .base import Background, Explorer, Images, ImageSet, device_of
from .render import image_widget, png_bytes


def _engine(engine: Callable | None) -> Callable:
    """The engine to call: ``engine`` or :func:`nst_utils.optimize.optimize` (looked up late,
    so tests can count calls by wrapping it)."""
    if engine is not None:
        return engine
    from .. import optimize as optimize_module

    return optimize_module.optimize


class Playground(Explorer):
    """Content reconstruction, texture synthesis and style transfer from one panel.

    Choose content layers and style layers (either may be empty: no style layers is a
    content reconstruction, no content layers a texture synthesis), β/α (``ratio``, a
    log-scale slider), ``init``, ``steps`` and ``preview_every``; ``run_button`` starts the
    engine in a background thread, ``image_widget`` shows the image every ``preview_every``
    steps, ``stop_button`` ends the run after the current step and shows the **best** image
    so far. After a run, ``result`` is the engine's :class:`~nst_utils.optimize.Result`.
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
        engine: Callable | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.images = ImageSet(images, size or pick(256, 32), device_of(net))
        self.engine = engine
        self.optimizer = optimizer
        self.lr = lr
        self.seed = seed
        self.result: Result | None = None
        self.previews = 0
        self._started = 0.0
        self.first_preview_s: float | None = None
        self._bg = Background()
        names = self.images.names
        layers = list(net.layer_names)
        net.check_layers([*content_layers, *style_layers])
        wide = {"description_width": "90px"}
        self.content_image = W.Dropdown(
            options=names, value=content or names[0], description="content", style=wide
        )
        self.style_image = W.Dropdown(
            options=names, value=style or names[-1], description="style", style=wide
        )
        self.content_layers = W.SelectMultiple(
            options=layers,
            value=tuple(content_layers),
            rows=8,
            description="content layers",
            style=wide,
        )
        self.style_layers = W.SelectMultiple(
            options=layers,
            value=tuple(style_layers),
            rows=8,
            description="style layers",
            style=wide,
        )
        centre = math.floor(math.log10(default_style_weight(net)))  # 2 on torchvision's VGGs
        self.ratio = W.FloatLogSlider(
            value=default_style_weight(net) if ratio is None else ratio,
            base=10,
            min=centre - 4,
            max=centre + 3,
            step=0.25,
            description="β/α",
            readout_format=".3g",
            style=wide,
        )
        self.init = W.Dropdown(options=list(INITS), value=init, description="init", style=wide)
        self.steps = W.IntSlider(
            value=steps or pick(200, 4), min=1, max=1000, description="steps", style=wide
        )
        self.steps.add_class("nst-steps")
        self.preview_every = W.IntSlider(
            value=preview_every or pick(10, 2),
            min=1,
            max=100,
            description="preview every",
            style=wide,
        )
        self.run_button = W.Button(description="Run", button_style="success", icon="play")
        self.run_button.add_class("nst-run")
        self.stop_button = W.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.stop_button.add_class("nst-stop")
        self.progress = W.IntProgress(value=0, min=0, max=self.steps.value, description="step")
        self.status = W.HTML("Choose layers and weights, then press <b>Run</b>.")
        self.title = W.HTML()
        self.title.add_class("nst-playground-title")
        self.image_widget = image_widget("nst-playground-image", "320px")
        self.run_button.on_click(lambda _b: self.run())
        self.stop_button.on_click(lambda _b: self.stop())
        self.content_image.observe(self._on_change, "value")
        self.init.observe(self._on_change, "value")
        self.widget = W.VBox(
            [
                W.HBox(
                    [
                        W.VBox(
                            [
                                self.content_image,
                                self.style_image,
                                self.ratio,
                                self.init,
                                self.steps,
                                self.preview_every,
                            ]
                        ),
                        W.VBox([self.content_layers, self.style_layers]),
                    ]
                ),
                W.HBox([self.run_button, self.stop_button, self.progress]),
                self.status,
                self.title,
                self.image_widget,
            ]
        )
        self.widget.add_class("nst-playground")
        self.redraw()

    @property
    def running(self) -> bool:
        return self._bg.running

    @property
    def thread(self) -> threading.Thread | None:
        return self._bg.thread

    def _draw(self) -> None:
        """Before a run: show the starting image."""
        if self.running:
            return
        start = self._init_image()
        self.image_widget.value = png_bytes(start)
        self.title.value = f"start: {html.escape(self.init.value)}"

    def _init_image(self) -> torch.Tensor:
        content = self.images[self.content_image.value]
        style = self.images[self.style_image.value]
        return initial_image(self.init.value, content, style, seed=self.seed)

    def run(self, *, block: bool = False) -> None:
        """Start a run with the current settings (in the background unless ``block``)."""
        if self.running:
            return
        content_layers = tuple(self.content_layers.value)
        style_layers = tuple(self.style_layers.value)
        if not content_layers and not style_layers:
            self.status.value = "<b style='color:#b00'>Choose at least one layer.</b>"
            return
        params = {
            "content": self.images[self.content_image.value] if content_layers else None,
            "style": self.images[self.style_image.value] if style_layers else None,
            "content_layers": content_layers or CONTENT_LAYERS,
            "style_layers": style_layers or STYLE_LAYERS,
            "ratio": self.ratio.value,
            "init": self._init_image(),
            "steps": self.steps.value,
            "every": self.preview_every.value,
        }
        self.progress.max, self.progress.value = params["steps"], 0
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.previews = 0
        self.result = None
        self._started = time.perf_counter()
        self.first_preview_s = None
        self._bg.start(lambda: self._work(params))
        if block:
            self.wait()

    def stop(self) -> None:
        """End the run after the current step; the best image so far is kept and shown."""
        if self.running:
            self._bg.stop_event.set()
            self.status.value = "stopping after this step…"

    def wait(self, timeout: float | None = None) -> bool:
        return self._bg.wait(timeout)

    def _work(self, p: dict) -> None:
        what = (
            "style transfer"
            if p["content"] is not None and p["style"] is not None
            else "content reconstruction"
            if p["content"] is not None
            else "texture synthesis"
        )
        try:
            self.status.value = f"{what}: computing the targets…"
            objective = build_objective(
                self.net,
                p["content"],
                p["style"],
                content_layers=p["content_layers"],
                style_layers=p["style_layers"],
                content_weight=1.0,
                style_weight=p["ratio"] if p["content"] is not None else 1.0,
            )
            self.status.value = f"{what}: running…"
            torch.manual_seed(self.seed)

            def callback(iteration: int, image: torch.Tensor, losses: dict) -> None:
                self.progress.value = iteration
                if iteration % p["every"] == 0 or iteration == p["steps"]:
                    self.image_widget.value = png_bytes(image)
                    self.previews += 1
                    if self.first_preview_s is None:
                        self.first_preview_s = time.perf_counter() - self._started
                    self.title.value = (
                        f"{what}, iteration {iteration}/{p['steps']}: loss {losses['total']:.4g}"
                    )

            result = _engine(self.engine)(
                objective,
                p["init"],
                steps=p["steps"],
                optimizer=self.optimizer,
                lr=self.lr,
                callback=callback,
                callback_every=1,
                stop=self._bg.stop_event,
                progress=False,
            )
            self.result = result
            self.image_widget.value = png_bytes(result.image)
            done = len(result.history)
            best = result.history[result.best_iteration - 1]["total"] if result.history else 0
            verb = "stopped at" if result.status != "completed" else "finished"
            self.title.value = (
                f"{what}: {verb} iteration {done}/{p['steps']}; showing the best image "
                f"(iteration {result.best_iteration}, loss {best:.4g})"
            )
            self.status.value = f"{verb} after {result.seconds:.1f} s"
        except Exception as err:
            self.last_error = f"{type(err).__name__}: {err}"
            self.status.value = f"<b style='color:#b00'>{html.escape(self.last_error)}</b>"
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

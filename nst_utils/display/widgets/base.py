"""What every explorer shares: the images to choose from, the base class, the worker thread.

* :class:`ImageSet` — named pictures, each loaded the first time it is shown;
* :class:`Explorer` — ``widget`` (the box to display), ``_ipython_display_``, redrawing once
  per change and a visible red error line instead of a silent failure;
* :class:`Background` — one worker thread and a stop event, so that a long optimisation runs
  while the kernel stays free to receive the Stop click.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import ipywidgets as W
import torch

from ...assets.examples import bundled_images, downloadable, example_available
from ...assets.images import load_image
from ...paper.vgg import VGGFeatures

ImageInput = torch.Tensor | str | Path
Images = Mapping[str, ImageInput] | Sequence[str] | None


def default_images() -> list[str]:
    """Example names usable without a download: bundled photos, then local paintings."""
    names = [n for n in ("chelsea", "coffee", "astronaut", "rocket") if n in bundled_images()]
    names += [n for n in bundled_images() if n not in names]
    names += [n for n in downloadable() if example_available(n)]
    return names


def device_of(net: VGGFeatures) -> torch.device:
    """Where ``net``'s weights live (the explorers' images go there too)."""
    return net.mean.device


class ImageSet:
    """Named images: ``{label: file, example name or tensor}`` or a list of names.

    Files and example names are loaded at ``size`` (longest side) the first time they are
    used; a tensor is a picture the notebook already has and keeps its own size.
    """

    def __init__(self, images: Images, size: int, device: torch.device | str = "cpu") -> None:
        if images is None:
            images = default_images()
        if not isinstance(images, Mapping):
            images = {str(name): name for name in images}
        if not images:
            raise ValueError("give at least one image")
        self.sources: dict[str, ImageInput] = dict(images)
        self.size = size
        self.device = torch.device(device)
        self._loaded: dict[str, torch.Tensor] = {}

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._loaded:
            source = self.sources[name]
            size = None if torch.is_tensor(source) else self.size  # a tensor keeps its size
            self._loaded[name] = load_image(source, size).to(self.device)
        return self._loaded[name]


class Explorer:
    """Common parts: ``widget``, display, one redraw per change, a visible error line.

    Subclasses build ``widget`` and ``title`` and implement :meth:`_draw`. ``last_error`` is
    the message shown in red when drawing failed (``None`` after a good draw).
    """

    widget: W.VBox
    title: W.HTML

    def __init__(self) -> None:
        self.last_error: str | None = None
        self._muted = 0

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    @contextmanager
    def _mute(self):
        """Change several controls without redrawing once per change."""
        self._muted += 1
        try:
            yield
        finally:
            self._muted -= 1

    def _on_change(self, _change=None) -> None:
        if not self._muted:
            self.redraw()

    def redraw(self) -> None:
        try:
            self._draw()
            self.last_error = None
        except Exception as err:
            self.show_error(err, self.title)
            raise

    def show_error(self, err: Exception, where: W.HTML) -> None:
        """Keep ``err`` in ``last_error`` and show it in red in ``where``."""
        self.last_error = f"{type(err).__name__}: {err}"
        where.value = f"<b style='color:#b00'>{html.escape(self.last_error)}</b>"

    def _draw(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class Background:
    """A worker thread plus a stop event, shared by the two optimisation explorers.

    The worker's widget updates (preview image, progress) are sent by ipykernel's thread-safe
    IOPub channel, so they appear in JupyterLab while the cell is idle; the kernel's own
    thread stays free for the Stop click, which sets :attr:`stop_event`.
    """

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, target: Callable[[], None]) -> None:
        self.stop_event.clear()
        self.thread = threading.Thread(target=target, daemon=True, name="nst-widget-worker")
        self.thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True if it has finished."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
        return not self.running


class RunningExplorer(Explorer):
    """An explorer whose long work (an optimisation) runs in a :class:`Background` thread."""

    def __init__(self) -> None:
        super().__init__()
        self._bg = Background()

    @property
    def running(self) -> bool:
        return self._bg.running

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background work to end; True if it has."""
        return self._bg.wait(timeout)

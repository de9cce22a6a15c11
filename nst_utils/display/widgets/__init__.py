"""Interactive explorers for the notebooks (ipywidgets 8, JupyterLab 4).

Four explorers, each a class whose controls are plain attributes (so tests and notebooks can
drive them from code), with ``.widget`` (the box to display) and ``_ipython_display_``:

=========================  =================================================================
:class:`FeatureMapExplorer`  "what does this layer see?": image, layer, one channel or the
                             top-k grid (notebook 01)
:class:`GramExplorer`        Gram matrix of a layer for two images, channels clustered, and
                             their difference (notebook 03)
:class:`RatioExplorer`       a slider through β/α; computed results are cached and shown at
                             once, new ones computed on demand with progress (notebook 04)
:class:`Playground`          content/style layers, β/α, initialisation, steps → Run, live
                             preview, Stop keeps the best image (notebook 05)
=========================  =================================================================

Modules: :mod:`~.base` (the explorer base class, the images to choose from, the worker
thread), :mod:`~.render` (PNG bytes, colour maps, scaling, labels), :mod:`~.cache` (every
layer of an image from one pass of the network), then one module per explorer:
:mod:`~.feature_maps`, :mod:`~.gram`, :mod:`~.ratio`, :mod:`~.playground`.

How it stays fast: every picture is rendered to PNG bytes and put into an ``ipywidgets.Image``
(no interactive matplotlib backend), and the network runs once per image, not once per slider
step. The two optimisation explorers run the kit's one pipeline
(:func:`nst_utils.paper.pipeline.run`) in a background thread, so the kernel stays free for the
Stop click; the kit's bound on OpenMP's spinning (:mod:`nst_utils.engine.openmp`) keeps the worker's
threads from taking the cores from the kernel's other work (BENCHMARKS.md part 6).
"""

from .feature_maps import FeatureMapExplorer
from .gram import GramExplorer
from .playground import Playground
from .ratio import RatioExplorer

__all__ = ["FeatureMapExplorer", "GramExplorer", "Playground", "RatioExplorer"]

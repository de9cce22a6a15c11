"""nst_utils: the helper library of the neural-style-transfer teaching kit.

Modules, in the order of the paper's method section:

``layers``     VGG layer names          ``vgg``        the feature extractor ``net(x, layers)``
``weights``    where weights come from  ``losses``     content, Gram, style, TV losses
``objective``  targets + weighted loss  ``optimize``   the one optimisation engine
``transfer``   the paper's experiments  ``images``     loading and saving pictures
``examples``   bundled and downloadable example images
``plotting``   figures for the notebooks ``cli``        the ``nst`` command

Importing ``nst_utils`` (before torch) bounds how long torch's idle threads spin
(:mod:`nst_utils.openmp`): fair speed when several runs share the CPU.
"""

from . import openmp  # noqa: F401  (first: OpenMP reads its settings when torch loads)

__version__ = "0.1.0"

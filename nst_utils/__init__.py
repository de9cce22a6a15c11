"""nst_utils: the helper library of the neural-style-transfer teaching kit.

Modules, in the order of the paper's method section:

================  =========================================================================
``layers``        VGG-16/19 layer names as the paper writes them (``relu4_2``)
``weights``       where the VGG weights come from (torchvision, or offline registry archives)
``vgg``           the feature extractor ``net(image, layers) -> {name: features}``
``losses``        content loss, Gram matrix ``F @ F.mT``, style loss, total variation
``objective``     the targets and the weighted loss ``α L_content + β L_style (+ γ L_TV)``
``speed``         every speed trick, behind one call (``Objective.fast``); same values
``optimize``      the one optimisation engine over the pixels (L-BFGS or Adam)
``pipeline``      the one pipeline: inputs + ``Settings`` → ``Result``; the paper's presets
``styles``        several styles: blend weights and ``NAME:WEIGHT`` specs
``spatial``       a style per region: masked Gram matrices
``color``         colour preservation: luminance-only transfer, histogram matching
``arbitrary``     any style without training: AdaIN and WCT on features, inverted by ``pipeline``
``decoder``       decoders of VGG features; multi-level WCT and AdaIN in one pass per level
``rescale``       the paper's rescaled VGG (every filter's mean response 1)
``images``        the one loader (file, example name, picture, array, tensor), resizing, saving
``examples``      bundled and downloadable example images by name
``files``         the one atomic write
``anatomy``       VGG layer by layer: shapes, receptive fields, activation statistics
``plotting``      figures: image grids, loss curves, feature maps, Gram matrices
``figures``       labelled grids like the paper's figures, zoomed crops
``widgets``       the notebooks' interactive explorers (a package, one file per explorer)
``photos``        training photos, offline: the bundled set, random scale/crop/flip
``painter``       the network that paints in one pass; conditional instance norm
``training``      the one training loop: Adam, checkpoints, resume, Ctrl-C, torchrun
``fast_style``    the paper's loss as a training loss; ``train_style``
``model_files``   trained networks on disk: safetensors weights with JSON metadata
``flow``          optical flow: backward warping, Ruder's reliability masks, Lai's warping error
``video``         clips: the synthetic pan-and-zoom with exact flow, reading and writing clips
``temporal``      painting a clip: frame by frame, with the temporal loss, blended along the flow
``memory``        will a run fit? its peak memory, estimated before it starts
``timing``        how long will a run take here? a short real run, read robustly
``openmp``        how long idle CPU threads spin: fair speed on a shared CPU
``config``        environment variables (``NST_*``) and the device
``checks``        what a run's arguments must satisfy, checked without torch
``errors``        ``NSTError``, the one exception users see
``cli``           the ``nst`` command
================  =========================================================================

Importing ``nst_utils`` (before torch) bounds how long torch's idle threads spin
(:mod:`nst_utils.engine.openmp`): fair speed when several runs share the CPU.
"""

from .engine import openmp  # noqa: F401  (first: OpenMP reads its settings when torch loads)

__version__ = "0.1.0"

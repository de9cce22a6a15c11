"""nst_utils: the helper library of the neural-style-transfer teaching kit.

Modules, in rooms by role, one line each, in reading order within each room (README.md has
the same map; ``tests/test_layout.py`` checks both against the tree):

================================  ==================================================================
``paper/``                        **the paper's method (notebooks 01–05)**
``paper.layers``                  VGG-16/19 layer names as the paper writes them (``relu4_2``)
``paper.vgg``                     the feature extractor ``net(image, layers) -> {name: features}``
``paper.losses``                  content and style loss, Gram matrix ``F @ F.mT``, total variation
``paper.objective``               the targets and the weighted loss ``α L_content + β L_style``
``paper.optimize``                the one optimisation over the pixels (L-BFGS or Adam)
``paper.pipeline``                the one run: inputs + ``Settings`` → ``Result``; ``Extension``
``beyond/``                       **after the paper, still optimising pixels (notebook 06)**
``beyond.color``                  colour preservation: luminance-only transfer, histogram matching
``beyond.spatial``                a style per region: masked Gram matrices
``beyond.styles``                 several styles: blend weights and ``NAME:WEIGHT`` specs
``beyond.rescale``                the paper's rescaled VGG (every filter's mean response 1)
``networks/``                     **networks trained with the paper's loss (notebooks 07–08)**
``networks.painter``              the network that paints in one pass; conditional instance norm
``networks.training``             the one training loop: Adam, checkpoints, resume, Ctrl-C, torchrun
``networks.fast_style``           the paper's loss as a training loss; ``train_style``, ``paint``
``networks.arbitrary``            any style without training: AdaIN and WCT on VGG features
``networks.decoder``              decoders of VGG features; multi-level WCT and AdaIN in one pass
``networks.photos``               training photos, offline: the bundled set, random scale/crop/flip
``networks.photo_sets``           more photos: Debian's wallpaper packages, chosen, licences kept
``video/``                        **clips (notebook 09)**
``video.flow``                    optical flow: backward warping, reliability masks, warping error
``video.clips``                   the synthetic pan-and-zoom with exact flow; reading, writing clips
``video.temporal``                painting a clip: frame by frame, temporal loss, along the flow
``engine/``                       **speed, memory, threads, timing (not course material)**
``engine.speed``                  every speed trick, one switch (``Settings.fast``), the same values
``engine.precision``              a run's number format (fp32, bf16, auto); float64 on the CPU only
``engine.memory``                 will a run fit? its peak memory, estimated before it starts
``engine.openmp``                 how long idle CPU threads spin: fair speed on a shared CPU
``engine.timing``                 how long will a run take here? a short real run, read robustly
``assets/``                       **weights, images, files, trained networks**
``assets.weights``                the VGG weights: cache, torchvision download, which network
``assets.archives``               the offline VGG weights in registry archives, checked, converted
``assets.calibration``            each network's default style weight β, measured
``assets.examples``               bundled and downloadable example images by name
``assets.images``                 the one image loader (file, name, array, tensor), resizing, saving
``assets.files``                  the one atomic write
``assets.model_files``            trained networks on disk: safetensors weights, JSON metadata
``assets/models/``                the trained networks the kit ships, with their commands
``display/``                      **figures, plots, explorers**
``display.plotting``              figures: image grids, loss curves, feature maps, Gram matrices
``display.figures``               labelled grids like the paper's figures, zoomed crops
``display.anatomy``               VGG layer by layer: shapes, receptive fields, activations
``display.check``                 checks of the equations students write: error and verdict
``display.widgets``               the notebooks' interactive explorers (ipywidgets), in the modules:
``display.widgets.base``          what every explorer shares: images, base class, worker thread
``display.widgets.render``        pictures for the explorers as PNG bytes
``display.widgets.cache``         every layer's response to an image from one pass, for sliders
``display.widgets.feature_maps``  what does this layer see? (notebook 01)
``display.widgets.gram``          two images' Gram matrices and their difference (notebook 03)
``display.widgets.ratio``         a slider through β/α (notebook 04)
``display.widgets.playground``    reconstruction, texture, style transfer: one panel (notebook 05)
(top level)                       **what every room uses**
``config``                        environment variables (``NST_*``) and the device
``checks``                        what a run's arguments must satisfy, checked without torch
``errors``                        ``NSTError``, the one exception users see; ``one_line``
``cli``                           the ``nst`` command (a package: one module per family of commands)
================================  ==================================================================

Importing ``nst_utils`` (before torch) bounds how long torch's idle threads spin
(:mod:`nst_utils.engine.openmp`): fair speed when several runs share the CPU.
"""

from .engine import openmp  # noqa: F401  (first: OpenMP reads its settings when torch loads)

__version__ = "0.1.0"

"""After the paper, still optimising pixels (notebook 06): colour preservation, a style per
region, blends of several paintings, the rescaled VGG. Each plugs into the one pipeline as an
:class:`~nst_utils.paper.pipeline.Extension`."""

"""The paper: Gatys, Ecker & Bethge (2015), what notebooks 01–05 teach.

Read in this order: ``layers`` (the paper's layer names), ``vgg`` (features by those names),
``losses`` (eqs. 1–7 as written), ``objective`` (the targets and the weighted sum),
``optimize`` (the pixels changed by L-BFGS or Adam) and ``pipeline`` (the one run every
experiment goes through). Nothing here imports a later chapter: those add their targets and
terms through :class:`nst_utils.paper.pipeline.Extension`.
"""

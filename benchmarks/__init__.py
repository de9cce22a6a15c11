"""The kit's benchmarks (``make bench``; BENCHMARKS.md).

Importing the package imports :mod:`nst_utils` first, so every ``python -m benchmarks.<part>``
bounds OpenMP's spin before torch loads, as the ``nst`` command and the notebooks do.
"""

import nst_utils  # noqa: F401

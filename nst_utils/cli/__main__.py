"""``python -m nst_utils.cli``: the ``nst`` command without the console script."""

import sys

from . import main

sys.exit(main())

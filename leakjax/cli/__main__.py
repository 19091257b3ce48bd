"""``python -m leakjax.cli``: the same as the ``leakjax`` command."""

import sys

from leakjax.cli import main

sys.exit(main())

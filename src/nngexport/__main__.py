"""``python -m nngexport``: the same as the ``nngexport`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m interfaces.cli``: the same as the ``platform`` script."""

from __future__ import annotations

import sys

from interfaces.cli.main import main

sys.exit(main())

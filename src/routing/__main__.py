"""``python -m routing``: the same as the ``routing`` command."""

from __future__ import annotations

import sys

from routing.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())

"""``python -m tooljet_portkey``: the same command line as ``tooljet-portkey``."""

from .cli import main

raise SystemExit(main())

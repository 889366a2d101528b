"""``python -m bpfnest``: the command line."""

from .cli import main

raise SystemExit(main())

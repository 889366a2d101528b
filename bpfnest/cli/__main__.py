"""``python -m bpfnest.cli``: the command line."""

from . import main

raise SystemExit(main())

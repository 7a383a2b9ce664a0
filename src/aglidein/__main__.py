"""`python -m aglidein`."""

from aglidein.cli import main

raise SystemExit(main())

"""`python -m aglidein`."""

from aglidein.cli import main

# Guarded: anyio's worker processes re-run the parent's __main__ as "__mp_main__".
if __name__ == "__main__":
    raise SystemExit(main())

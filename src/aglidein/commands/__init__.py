"""Subcommands of the `aglidein` CLI, one module per family."""

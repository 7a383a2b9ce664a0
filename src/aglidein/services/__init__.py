"""The daemon's concurrent services."""

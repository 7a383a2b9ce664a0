"""Glidein log storage."""

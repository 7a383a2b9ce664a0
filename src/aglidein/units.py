"""Durations (`90s`, `5m`, `1h30m`, `7d`) and sizes (`16KiB`, `50GiB`) as config strings."""

from __future__ import annotations

import re

__all__ = ["format_duration", "format_size", "parse_duration", "parse_size"]

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)")


def parse_duration(value: object) -> float:
    """Seconds from `90s`, `5m`, `1h30m`, `7d` (a bare number is seconds)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '90s', '5m', '7d'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration is a string like '90s', '5m', '7d'")
    text = value.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"bad duration {value!r}: use a number with s, m, h, d or w (e.g. '90s')")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact string for a duration: 3600 -> '1h', 90 -> '90s'."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    for unit in ("w", "d", "h", "m"):
        size = int(_DURATION_UNITS[unit])
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def parse_size(value: object) -> int:
    """Bytes from `16KiB`, `1MiB`, `50GiB`, `10MB` (a bare integer is bytes)."""
    if isinstance(value, bool):
        raise ValueError("a size is a string like '16KiB' or '50GiB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size must not be negative")
        return value
    if not isinstance(value, str):
        raise ValueError("a size is a string like '16KiB' or '50GiB'")
    match = _SIZE.fullmatch(value.strip())
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"bad size {value!r}: use a number with B, KiB, MiB, GiB, KB, MB, GB")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_size(size: int) -> str:
    """The shortest exact binary string for a size: 1048576 -> '1MiB'."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        factor = _SIZE_UNITS[unit.lower()]
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"

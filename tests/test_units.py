import pytest

from aglidein.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("7d", 604800), ("250ms", 0.25), (45, 45)],
)
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "m5", "1h 3", "-5s", True, None])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_duration_round_trip() -> None:
    for seconds in (1, 59, 60, 3600, 5400, 86400, 7 * 86400):
        assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "size"), [("16KiB", 16384), ("1MiB", 1 << 20), ("50GiB", 50 << 30), ("10MB", 10**7)]
)
def test_sizes_parse(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert parse_size(format_size(size)) == size


def test_bad_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size("12 parsecs")

"""The config's scalar types: durations and sizes as text, ClassAd expressions checked."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from aglidein.config_types import ClassAdExpr, Duration, Size


def test_durations_and_sizes_read_and_write_as_text() -> None:
    duration = TypeAdapter(Duration)
    assert duration.validate_python("1h30m") == 5400.0
    assert duration.dump_python(5400.0) == "90m"
    assert TypeAdapter(Size).validate_python("1KiB") == 1024


def test_a_bad_classad_expression_is_refused() -> None:
    adapter = TypeAdapter(ClassAdExpr)
    assert adapter.validate_python("Memory > 1") == "Memory > 1"
    with pytest.raises(ValidationError, match="not a valid ClassAd expression"):
        adapter.validate_python("Memory >")

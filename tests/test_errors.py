"""The exception tree of aglidein.errors: one base, the subclass relations callers catch by,
ConfigError's problem lines, and exception_leaves flattening nested exception groups."""

from __future__ import annotations

import pytest

from aglidein import errors
from aglidein.errors import (
    AglideinError,
    CondorError,
    CondorTimeout,
    ConfigError,
    CredentialError,
    StateError,
    StoreError,
    StoreFull,
    exception_leaves,
)

ERROR_CLASSES = [
    ConfigError,
    CondorError,
    CondorTimeout,
    CredentialError,
    StoreError,
    StoreFull,
    StateError,
]


def test_every_exported_error_derives_from_the_base() -> None:
    exported = [getattr(errors, name) for name in errors.__all__]
    classes = [obj for obj in exported if isinstance(obj, type)]
    assert set(classes) == {AglideinError, *ERROR_CLASSES}
    for cls in classes:
        assert issubclass(cls, AglideinError)
        assert issubclass(cls, Exception)


def test_narrower_errors_are_caught_by_their_family() -> None:
    with pytest.raises(CondorError):
        raise CondorTimeout("schedd query timed out")
    with pytest.raises(StoreError):
        raise StoreFull("logs.max_bytes reached")
    assert not issubclass(StoreFull, CondorError)
    assert not issubclass(CondorTimeout, StoreError)
    assert not issubclass(ConfigError, CredentialError)
    assert not issubclass(StateError, StoreError)


def test_config_error_from_one_string() -> None:
    error = ConfigError("entries.a.site: field required")
    assert error.problems == ["entries.a.site: field required"]
    assert str(error) == "entries.a.site: field required"


def test_config_error_from_a_list_copies_it_and_joins_lines() -> None:
    problems = ["a: bad", "b: worse"]
    error = ConfigError(problems)
    problems.append("c: later")
    assert error.problems == ["a: bad", "b: worse"]
    assert str(error) == "a: bad\nb: worse"
    assert isinstance(error, AglideinError)


def test_exception_leaves_flattens_nested_groups_in_order() -> None:
    first = CondorError("one")
    second = StoreFull("two")
    third = KeyboardInterrupt()
    inner = BaseExceptionGroup("inner", [second, third])
    outer = BaseExceptionGroup("outer", [first, inner, ExceptionGroup("deep", [ValueError("x")])])
    leaves = exception_leaves(outer)
    assert leaves[:3] == [first, second, third]
    assert len(leaves) == 4
    assert isinstance(leaves[3], ValueError)


def test_exception_leaves_of_a_flat_group() -> None:
    error = CredentialError("key unreadable")
    assert exception_leaves(ExceptionGroup("g", [error])) == [error]

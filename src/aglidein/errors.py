"""One exception tree. Library exceptions are mapped where they enter, never leak upward."""

from __future__ import annotations

__all__ = [
    "AglideinError",
    "CondorError",
    "CondorTimeout",
    "ConfigError",
    "CredentialError",
    "StateError",
    "StoreError",
    "StoreFull",
    "exception_leaves",
]


class AglideinError(Exception):
    """Base of every error aglidein raises on purpose."""


class ConfigError(AglideinError):
    """The configuration is invalid; `problems` holds one located line per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class CondorError(AglideinError):
    """An HTCondor call failed (schedd, collector, submit)."""


class CondorTimeout(CondorError):
    """An HTCondor call did not finish within its deadline."""


class CredentialError(AglideinError):
    """A credential or key is missing, unreadable, insecure or invalid."""


class StoreError(AglideinError):
    """The log store failed; the request must not be acknowledged."""


class StoreFull(StoreError):
    """The log store is out of space (disk full or logs.max_bytes reached)."""


class StateError(AglideinError):
    """The state database is unusable (e.g. written by a newer aglidein)."""


def exception_leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions inside nested exception groups (task groups wrap what they raise)."""
    out: list[BaseException] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            out.extend(exception_leaves(error))
        else:
            out.append(error)
    return out

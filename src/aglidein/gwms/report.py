"""What an import could not convert exactly, located by file, line and entry or group.

Nothing is dropped silently: every lossy step adds a Finding. `warning` means the
operator must look (a disabled entry, an untranslated match, a guessed auth method);
`note` means information was kept elsewhere or is not needed by aglidein.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Finding", "ImportReport", "ImportSummary"]

Severity = Literal["warning", "note"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One report line: where (file:line), what (entry X / group Y), and the problem."""

    severity: Severity
    where: str
    subject: str
    message: str

    def format(self) -> str:
        """`file:line: warning: entry X: message`."""
        subject = f"{self.subject}: " if self.subject else ""
        return f"{self.where}: {self.severity}: {subject}{self.message}"


@dataclass
class ImportReport:
    """Findings in the order they were made."""

    findings: list[Finding] = field(default_factory=list)

    def warn(self, where: str, subject: str, message: str) -> None:
        """Something the operator must review."""
        self.findings.append(Finding("warning", where, subject, message))

    def note(self, where: str, subject: str, message: str) -> None:
        """Information kept elsewhere or not needed."""
        self.findings.append(Finding("note", where, subject, message))

    @property
    def warnings(self) -> list[Finding]:
        """Only the findings of severity warning."""
        return [f for f in self.findings if f.severity == "warning"]

    def lines(self) -> list[str]:
        """Every finding formatted, one per line: warnings first, then notes."""
        ordered = sorted(self.findings, key=lambda f: f.severity != "warning")
        return [finding.format() for finding in ordered]


@dataclass(frozen=True)
class ImportSummary:
    """The counts printed at the end of an import."""

    entries: int
    enabled: int
    disabled_in_gwms: int
    disabled_by_import: dict[str, int]
    groups: int
    credentials: int
    warnings: int
    notes: int
    config_warnings: int

    def format(self) -> str:
        """A few human lines; the disabled counts add up to the entries disabled."""
        disabled = self.entries - self.enabled
        by_import = sum(self.disabled_by_import.values())
        reasons = ", ".join(
            f"{n} {reason}" for reason, n in sorted(self.disabled_by_import.items())
        )
        details = [f"{self.disabled_in_gwms} already disabled in GlideinWMS"]
        if reasons:
            details.append(f"{by_import} disabled by the import: {reasons}")
        return "\n".join(
            [
                f"imported {_count(self.entries, 'entry', 'entries')}: {self.enabled} enabled, "
                f"{disabled} disabled" + (f" ({'; '.join(details)})" if disabled else ""),
                f"imported {_count(self.groups, 'group', 'groups')}, "
                f"{_count(self.credentials, 'credential', 'credentials')}",
                f"report: {_count(self.warnings, 'warning', 'warnings')}, "
                f"{_count(self.notes, 'note', 'notes')}; "
                f"check-config: valid, {_count(self.config_warnings, 'warning', 'warnings')}",
            ]
        )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"

"""One rule that cut a decision, with its amounts (`Decision.cuts`, issue 18 §7)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Cut"]


@dataclass(frozen=True, slots=True)
class Cut:
    """One rule that cut a decision: `what` (`requested_idle` or `submit`) went from
    `before` to `after`; `limit` is the configured value behind the rule, if any."""

    reason: str
    what: str
    before: int
    after: int
    limit: int | float | None = None
    detail: str | None = None  # e.g. why there is no demand

    def as_dict(self) -> dict[str, object]:
        """JSON shape: `{"reason", "what", "from", "to", "limit"[, "detail"]}`."""
        out: dict[str, object] = {
            "reason": self.reason,
            "what": self.what,
            "from": self.before,
            "to": self.after,
            "limit": self.limit,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out

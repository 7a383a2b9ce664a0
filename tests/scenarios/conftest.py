"""Fixtures for the scenario tests: a factory on a simulated pool with a manual clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.harness import Sim

MakeSim = Callable[..., Sim]


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[MakeSim]:
    """Build a `Sim` (scenario file, entries, groups, factory settings); closed after."""
    made: list[Sim] = []

    def make(
        scenario: str,
        entries: dict[str, dict[str, Any]],
        *,
        groups: list[dict[str, Any]],
        factory: dict[str, Any] | None = None,
    ) -> Sim:
        sim = Sim(tmp_path / f"sim{len(made)}", scenario, entries, groups, factory or {})
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()

"""The Protocols are satisfiable by a small in-test implementation."""

from __future__ import annotations

from collections.abc import Sequence

from aglidein.condor.api import (
    ActResult,
    Ad,
    Collector,
    JobAction,
    Schedd,
    ScheddLocation,
    SubmitDescription,
    SubmitResult,
)


class TinySchedd:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, object]] = {}

    @property
    def name(self) -> str:
        return "tiny"

    async def query(
        self, constraint: str = "true", projection: Sequence[str] = (), *, limit: int = -1
    ) -> list[Ad]:
        return []

    async def query_autoclusters(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        return []

    async def submit(self, description: SubmitDescription) -> SubmitResult:
        return SubmitResult(cluster=7, first_proc=0, count=description.count)

    async def act(
        self, action: JobAction, job_ids: Sequence[str], *, reason: str = ""
    ) -> ActResult:
        return ActResult(success=len(job_ids))

    async def edit(self, job_ids: Sequence[str], attr: str, value: str) -> int:
        return len(job_ids)


class TinyCollector:
    async def query_startds(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        return []

    async def locate_schedds(self, names: Sequence[str] = ()) -> list[ScheddLocation]:
        return [ScheddLocation(name="tiny", address="127.0.0.1:9618")]


async def test_protocols_are_implementable() -> None:
    schedd, collector = TinySchedd(), TinyCollector()
    assert isinstance(schedd, Schedd)
    assert isinstance(collector, Collector)
    description = SubmitDescription(
        commands=(("universe", "grid"), ("+AglideinId", '"$(AglideinId)"')),
        queue_vars=("AglideinId",),
        itemdata=({"AglideinId": "a"}, {"AglideinId": "b"}),
    )
    result = await schedd.submit(description)
    assert result.job_ids == ("7.0", "7.1")
    assert description.as_dict()["universe"] == "grid"
    assert (await schedd.act(JobAction.REMOVE, result.job_ids)).success == 2

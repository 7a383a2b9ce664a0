"""Running a daemon service in a test: its `run` in a task group while inside, stopped
(what it was doing finished: a log store's queue committed) on the way out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio

from aglidein.services.runtime import Service

S = TypeVar("S", bound=Service)


@asynccontextmanager
async def running(service: S) -> AsyncIterator[S]:
    """`service`, running."""
    async with anyio.create_task_group() as tg:
        await tg.start(service.run)
        try:
            yield service
        finally:
            await service.stop()

"""Running a log store in a test: its `run` in a task group while inside, stopped (what
was queued committed) on the way out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio

from aglidein.store.sqlite import SqliteLogStore

S = TypeVar("S", bound=SqliteLogStore)


@asynccontextmanager
async def running(store: S) -> AsyncIterator[S]:
    """`store`, running."""
    async with anyio.create_task_group() as tg:
        await tg.start(store.run)
        try:
            yield store
        finally:
            await store.stop()

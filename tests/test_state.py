import dataclasses
import sqlite3
from pathlib import Path

import pytest

from aglidein.core.model import EntryHealth, OperatorState
from aglidein.errors import StateError
from aglidein.state import SCHEMA_VERSION, StateDB


async def test_health_and_batches_survive_reopen(tmp_path: Path) -> None:
    db = StateDB.open(tmp_path / "state.db")
    assert db.schema_version == SCHEMA_VERSION
    await db.save_health(
        EntryHealth(entry="CE1", operator=OperatorState.DRAINING, backoff_until=5.0, failures=2)
    )
    await db.record_batch("b1", "CE1", "main", 10, created=1.0)
    await db.record_batch("b2", "CE1", "main", 10, created=2.0)
    await db.finish_batch("b2", "submitted", cluster=42)
    await db.put_json("memory", {"a": 1})
    db.close()

    db = StateDB.open(tmp_path / "state.db")
    health = await db.load_health()
    assert health["CE1"].operator is OperatorState.DRAINING
    assert health["CE1"].backoff_until == 5.0
    assert [b["batch"] for b in await db.pending_batches()] == ["b1"]
    assert await db.get_json("memory") == {"a": 1}
    assert await db.get_json("missing") is None
    assert await db.prune_batches(older_than=10.0) == 1
    db.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateDB.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match="newer than this aglidein"):
        StateDB.open(path)


def test_migrations_run_forward_from_an_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aglidein.state as state

    path = tmp_path / "state.db"
    StateDB.open(path).close()
    monkeypatch.setattr(
        state, "MIGRATIONS", [*state.MIGRATIONS, "ALTER TABLE kv ADD COLUMN note TEXT;"]
    )
    monkeypatch.setattr(state, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    db = state.StateDB.open(path)
    assert db.schema_version == SCHEMA_VERSION + 1
    db.close()


def test_one_holder_per_state_dir_and_the_second_learns_its_pid(tmp_path: Path) -> None:
    import os

    from aglidein.errors import StateError
    from aglidein.state import StateDirLock

    state_dir = tmp_path / "new" / "state"
    with StateDirLock.acquire(state_dir) as held:
        assert held.path.read_text() == f"{os.getpid()}\n"
        assert state_dir.stat().st_mode & 0o777 == 0o700
        with pytest.raises(StateError, match=f"in use by another aglidein \\(pid {os.getpid()},"):
            StateDirLock.acquire(state_dir)
    StateDirLock.acquire(state_dir).release()  # let go: free again


async def test_a_schema_1_database_gains_downtimes_and_keeps_its_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aglidein.state as state

    path = tmp_path / "state.db"
    monkeypatch.setattr(state, "MIGRATIONS", state.MIGRATIONS[:1])
    monkeypatch.setattr(state, "SCHEMA_VERSION", 1)
    old = state.StateDB.open(path)
    await old.save_health(EntryHealth(entry="CE1", operator=OperatorState.DISABLED))
    old.close()
    monkeypatch.undo()

    db = StateDB.open(path)
    assert db.schema_version == SCHEMA_VERSION >= 2
    assert (await db.load_health())["CE1"].operator is OperatorState.DISABLED
    first = await db.add_downtime("CE1", None, 100.0, 200.0, "CE upgrade", created=50.0)
    later = await db.add_downtime(None, "main", 300.0, None, "all sites", created=60.0)
    assert [d.id for d in await db.load_downtimes()] == [first.id, later.id]
    db.close()

    db = StateDB.open(path)
    assert await db.load_downtimes() == [first, later]
    assert await db.load_downtimes(ended_after=250.0) == [later]  # open-ended stays
    assert db.load_downtimes_sync(ended_after=250.0) == [later]
    ended = await db.end_downtime(first.id, now=150.0)
    assert ended is not None
    assert ended.end == 150.0
    assert await db.end_downtime(later.id, now=150.0) == dataclasses.replace(later, end=300.0)
    assert await db.load_downtimes() == [ended]  # one not yet started is deleted
    assert await db.end_downtime(999, now=150.0) is None
    assert await db.prune_downtimes(older_than=150.0) == 0
    assert await db.prune_downtimes(older_than=151.0) == 1
    assert await db.load_downtimes() == []
    db.close()

"""The simulated pool (DESIGN §11): the same Protocols as the real bindings, no condor.

    pool = FakePool(load_scenario("scenario.yaml"), clock=ManualClock())
    schedd = pool.schedd("local")              # the factory schedd
    await schedd.submit(description)           # glideins appear, idle
    clock.advance(600)                         # ... and start, hold, fail, end by behaviour
    await pool.collector().query_startds()     # slots of the running ones

`pool.sim` exposes the simulation for tests (hold storms, stuck removals, down schedds).
The pool's state lives in the object: hand the same FakePool to a second daemon to
simulate a restart against the same schedd.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

import anyio

from aglidein.classad.facade import is_true
from aglidein.clock import Clock, ScaledClock, SystemClock
from aglidein.condor.api import Ad, Collector, Pool, Schedd, ScheddLocation
from aglidein.condor.fake_schedd import FakeSchedd, _constraint, _project
from aglidein.condor.fake_sim import Simulation
from aglidein.condor.scenario import Scenario, load_scenario
from aglidein.errors import CondorError

__all__ = [
    "FakeCollector",
    "FakePool",
    "FakeSchedd",
    "ScaledClock",
    "Scenario",
    "Simulation",
    "load_scenario",
]

_ADDRESS_PREFIX = "<sim:"


class FakeCollector:
    """The simulated collector: startd slots of running glideins, schedd locations."""

    def __init__(self, sim: Simulation) -> None:
        self._sim = sim
        self.down = False  # answer every call with CondorError

    def _check(self) -> None:
        if self.down:
            raise CondorError("collector: connection refused (simulated)")
        self._sim.step()

    async def query_startds(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        """Slot ads matching `constraint`."""
        self._check()
        expr = _constraint(constraint or "true")
        return [
            _project(slot.ad, projection)
            for slot in self._sim.slots.values()
            if is_true(expr.evaluate(slot.ad))
        ]

    async def locate_schedds(self, names: Sequence[str] = ()) -> list[ScheddLocation]:
        """Schedds by name (every user schedd and the factory schedd when empty)."""
        self._check()
        known = {name: schedd for name, schedd in self._sim.schedds.items()}
        known.update(self._sim.factories)
        wanted = list(names) or sorted(known)
        missing = [n for n in wanted if n not in known]
        if missing:
            raise CondorError(f"collector: no schedd named {missing[0]!r}")
        return [ScheddLocation(name=n, address=f"{_ADDRESS_PREFIX}{n}>") for n in wanted]


class FakePool:
    """A simulated pool: collector, user schedds and the factory schedd."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        clock: Clock | None = None,
        factory_schedd: str = "local",
        factory_schedds: Sequence[str] = (),
    ) -> None:
        self.clock = clock or SystemClock()
        self.sim = Simulation(
            scenario or Scenario(),
            self.clock,
            factory_schedds=tuple(factory_schedds) or (factory_schedd,),
        )
        self._collector = FakeCollector(self.sim)

    @property
    def factory(self) -> FakeSchedd:
        """The (first) factory schedd."""
        return self.sim.factory

    @property
    def factories(self) -> dict[str, FakeSchedd]:
        """Every factory schedd, by name, in the order of the config."""
        return self.sim.factories

    def collector(self) -> Collector:
        """The collector."""
        return self._collector

    def schedd(self, location: str | ScheddLocation) -> Schedd:
        """A schedd by name, `<sim:NAME>` address or `local` (the first factory schedd)."""
        name = location.name if isinstance(location, ScheddLocation) else location
        if name.startswith(_ADDRESS_PREFIX):
            name = name[len(_ADDRESS_PREFIX) : -1]
        if name in self.sim.factories:
            return self.sim.factories[name]
        if name == "local":
            return self.sim.factory
        schedd = self.sim.schedds.get(name)
        if schedd is None:  # a schedd the scenario does not have: it never answers
            schedd = self.sim.schedds[name] = FakeSchedd(name, step=self.sim.step)
            schedd.down = True
        return schedd

    async def aclose(self) -> None:
        """Stop the processes of local-universe glideins (TERM, then KILL after 5 s)."""
        runner = self.sim.runner
        runner.signal_all(signal.SIGTERM)
        for _ in range(100):  # up to 5 s for the pilots to flush their logs and exit
            if not runner.reap():
                break
            await anyio.sleep(0.05)
        runner.stop_all()


def _is_pool(pool: FakePool) -> Pool:
    return pool  # mypy checks FakePool against the Protocol here

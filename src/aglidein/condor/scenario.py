"""The simulated pool's scenario file (`pool.simulate`): user jobs and entry behaviour.

```yaml
seed: 7
schedds:
  - name: schedd1.example.org
    jobs:                      # present at start
      - {count: 200, attrs: {DESIRED_Sites: "US_FNAL", RequestCpus: 1}, run_time: 2h}
    arrivals:                  # every `every`, `count` more jobs like these
      - {every: 10m, count: 20, attrs: {DESIRED_Sites: "US_FNAL"}, run_time: 1h}
job_requirements: 'stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)'
entries:
  default: {queue_time: 2m, run_time: 12h}
  US_FNAL_CE1:
    hold_rate: 0.1             # fraction of glideins held instead of starting
    hold_reason_code: 0        # 0 = recoverable (grid error), 1 = held by user, ...
    failure_rate: 0.05         # fraction that exit early with exit_code (default 10)
    black_hole: 0.0            # fraction that start a startd that eats jobs
    silent_rate: 0.0           # fraction that run but never show a startd
    submit_failure_rate: 0.0   # fraction of submit calls the CE refuses
    outages: [{start: 1h, end: 2h, hold: true}]   # from the start of the simulation
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from aglidein.errors import ConfigError
from aglidein.units import parse_duration

__all__ = ["Arrival", "EntryBehaviour", "JobSpec", "Outage", "Scenario", "load_scenario"]

Duration = Annotated[float, BeforeValidator(parse_duration)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Scalar = str | int | float | bool


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobSpec(_Model):
    """A block of identical user jobs."""

    count: Annotated[int, Field(ge=0)] = 1
    attrs: dict[str, Scalar] = Field(default_factory=dict)
    run_time: Duration = 3600.0
    # the jobs' Requirements (MY = job, TARGET = slot); default: the scenario's
    requirements: str | None = None


class Arrival(JobSpec):
    """`count` jobs arriving every `every` (from `start` on)."""

    every: Duration
    start: Duration = 0.0
    stop: Duration | None = None


class ScheddSpec(_Model):
    """A user schedd and its jobs."""

    name: str
    jobs: list[JobSpec] = Field(default_factory=list)
    arrivals: list[Arrival] = Field(default_factory=list)


class Outage(_Model):
    """A window (seconds from the simulation start) where an entry starts nothing."""

    start: Duration
    end: Duration
    hold: bool = False  # glideins that would start are held instead (a hold storm)
    refuse_submit: bool = False  # the CE refuses submissions


class EntryBehaviour(_Model):
    """How glideins sent to one entry behave."""

    queue_time: Duration = 120.0
    run_time: Duration = 12 * 3600.0
    jitter: Fraction = 0.2  # +/- fraction applied to queue and run times
    hold_rate: Fraction = 0.0
    hold_reason_code: Annotated[int, Field(ge=0)] = 0
    hold_reason: str = "Error connecting to the CE (simulated)"
    failure_rate: Fraction = 0.0
    exit_code: int = 10
    black_hole: Fraction = 0.0
    silent_rate: Fraction = 0.0  # run without ever starting a startd (never report)
    cpus: Annotated[int, Field(ge=1)] = 1
    memory: Annotated[int, Field(ge=0)] = 2048
    submit_failure_rate: Fraction = 0.0
    outages: list[Outage] = Field(default_factory=list)

    def outage_at(self, offset: float) -> Outage | None:
        """The outage in force `offset` seconds after the simulation started."""
        for outage in self.outages:
            if outage.start <= offset < outage.end:
                return outage
        return None


class Scenario(_Model):
    """A whole simulated pool."""

    seed: int = 1
    slots_per_glidein: Annotated[int, Field(ge=1)] = 1
    # Requirements of every user job without its own: a job runs only on a slot where it
    # evaluates to true (slots advertise their glidein's entry attrs). None = any slot.
    job_requirements: str | None = None
    schedds: list[ScheddSpec] = Field(default_factory=list)
    entries: dict[str, EntryBehaviour] = Field(default_factory=dict)

    def behaviour(self, entry: str) -> EntryBehaviour:
        """The behaviour of `entry` (`default`, else the built-in defaults)."""
        return self.entries.get(entry) or self.entries.get("default") or EntryBehaviour()


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file, or raise ConfigError naming the problem."""
    file = Path(path)
    try:
        data: Any = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read scenario: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{file}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError(problems) from None

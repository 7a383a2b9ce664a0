"""Talking to HTCondor: the Protocols (`api`), the real pool (`bindings`) and the
simulated one (`fake`). `open_pool` picks one from the config."""

from __future__ import annotations

from aglidein.clock import Clock
from aglidein.condor.api import Pool
from aglidein.config import Config, expand_path

__all__ = ["open_pool"]


def open_pool(config: Config, *, clock: Clock | None = None) -> Pool:
    """The simulated pool when `pool.simulate` names a scenario, else the real bindings.

    The bindings read deadlines from `config` as given; a daemon that reloads its config
    should build `BindingsPool(holder)` with its live config holder instead.
    """
    if config.pool.simulate is not None:
        from aglidein.condor.fake import FakePool, load_scenario

        scenario = load_scenario(expand_path(config.pool.simulate))
        return FakePool(scenario, clock=clock, factory_schedds=config.pool.schedds)
    from aglidein.condor.bindings import BindingsPool

    return BindingsPool(lambda: config)

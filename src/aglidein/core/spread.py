"""Spreading an entry's glideins across the factory schedds (`pool.factory_schedds`).

Each cluster goes to one schedd: the one holding the fewest of that entry's glideins
(counting what was placed earlier in the cycle), ties by the order of the config. A
schedd that did not answer the poll, or refused a submission of the entry this cycle,
gets none; its share goes to the others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

from aglidein.core.model import Glidein, split_job_key

__all__ = ["entry_spread", "group_by_schedd", "pick_schedd"]


def entry_spread(glideins: Iterable[Glidein], entry: str, schedds: Sequence[str]) -> Counter[str]:
    """The entry's glideins on each factory schedd (a glidein of no named schedd is the
    first one's)."""
    first = schedds[0] if schedds else ""
    return Counter(g.schedd or first for g in glideins if g.entry == entry)


def pick_schedd(
    schedds: Sequence[str], held: Mapping[str, int], excluded: Collection[str]
) -> str | None:
    """The schedd for the next cluster: fewest of the entry's glideins, ties by order;
    None when every schedd is excluded."""
    usable = [(held.get(name, 0), index, name) for index, name in enumerate(schedds)]
    usable = [row for row in usable if row[2] not in excluded]
    return min(usable)[2] if usable else None


def group_by_schedd(keys: Iterable[str], default: str) -> dict[str, list[str]]:
    """`Glidein.key`s as schedd -> `cluster.proc` ids (a key without a schedd: `default`)."""
    out: dict[str, list[str]] = {}
    for key in keys:
        job_id, schedd = split_job_key(key)
        out.setdefault(schedd or default, []).append(job_id)
    return out

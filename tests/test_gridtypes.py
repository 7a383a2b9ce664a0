"""The gridtype registry: one row per gridtype, read by config, submit, health and import."""

from __future__ import annotations

from typing import get_args

import pytest

from aglidein.config import EntryConfig
from aglidein.gridtypes import (
    BATCH_SYSTEMS,
    GRIDTYPES,
    BatchSystem,
    GridtypeName,
    from_gwms,
    gridtype,
)


def test_the_registry_and_the_config_types_name_the_same_gridtypes() -> None:
    assert tuple(GRIDTYPES) == get_args(GridtypeName)
    assert get_args(BatchSystem) == BATCH_SYSTEMS
    assert get_args(EntryConfig.model_fields["gridtype"].annotation) == get_args(GridtypeName)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("condor", ("condor", None)),
        ("CONDOR", ("condor", None)),
        ("batch slurm", ("batch", "slurm")),
        ("batch PBS", ("batch", "pbs")),
        ("arc", ("arc", None)),
        ("batch", None),
        ("batch cobalt", None),
        ("condor extra", None),
        ("gt2 host", None),
        ("local", None),
        ("", None),
    ],
)
def test_glideinwms_gridtypes_map_to_a_row(raw: str, expected: tuple[str, str] | None) -> None:
    found = from_gwms(raw)
    assert (None if found is None else (found[0].name, found[1])) == expected


def test_rows_render_grid_resource_and_walltime() -> None:
    condor, batch, local = gridtype("condor"), gridtype("batch"), gridtype("local")
    assert condor.grid_resource is not None
    assert batch.grid_resource is not None
    assert condor.grid_resource("ce.example.org", None, None) == (
        "condor ce.example.org ce.example.org:9619"
    )
    assert batch.grid_resource("u@h", "slurm", "/k") == "batch slurm u@h --rgahp-key /k"
    assert condor.walltime_commands(3601) == [("+maxWallTime", "61")]
    assert batch.walltime_commands(3601) == [("batch_runtime", "3601")]
    assert local.walltime_commands(3601) == []
    assert local.local
    assert not condor.local
    assert not gridtype("unsupported").local
    assert not gridtype("unsupported").submittable


def test_an_unknown_gridtype_is_named() -> None:
    with pytest.raises(KeyError, match=r"unknown gridtype 'gt5'.*condor, batch"):
        gridtype("gt5")

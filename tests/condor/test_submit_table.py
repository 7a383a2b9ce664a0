"""Submit commands to job attributes, and offline expansion through htcondor2."""

from __future__ import annotations

import pytest

from aglidein.classad.facade import Expr, expand_submit
from aglidein.condor.submit_table import job_attributes


def test_expansion_per_itemdata_row() -> None:
    rows = expand_submit(
        {"executable": "run.sh", "arguments": "--id $(G)", "+AglideinId": '"$(G)"'},
        [{"G": "a"}, {"G": "b"}],
    )
    assert [r["arguments"] for r in rows] == ["--id a", "--id b"]
    assert [r["MY.AglideinId"] for r in rows] == ['"a"', '"b"']
    assert "G" not in rows[0]


def test_table_maps_commands_like_condor_submit() -> None:
    ad = job_attributes(
        {
            "universe": "grid",
            "grid_resource": "condor ce ce:9619",
            "executable": "glidein_startup.sh",
            "arguments": "--id x",
            "environment": '"GLIDEIN_CONDOR=none"',
            "transfer_input_files": "a,b",
            "output": "o",
            "error": "e",
            "log": "l",
            "scitokens_file": "/t",
            "batch_runtime": "3600",
            "MY.Flag": "true",
            "+Text": '"hi"',
            "+Number": "2.5",
            "+Rule": "JobStatus == 2",
            "something_else": "kept",
        }
    )
    assert ad["JobUniverse"] == 9
    assert ad["GridResource"] == "condor ce ce:9619"
    assert (ad["Cmd"], ad["Args"], ad["Environment"]) == (
        "glidein_startup.sh",
        "--id x",
        "GLIDEIN_CONDOR=none",
    )
    assert (ad["TransferInput"], ad["Out"], ad["Err"], ad["UserLog"]) == ("a,b", "o", "e", "l")
    assert ad["ScitokensFile"] == "/t"
    assert ad["BatchRuntime"] == 3600
    assert ad["Flag"] is True
    assert ad["Text"] == "hi"
    assert ad["Number"] == 2.5
    assert isinstance(ad["Rule"], Expr)
    assert ad["SubmitCommand_something_else"] == "kept"
    assert job_attributes({"universe": "local"})["JobUniverse"] == 12


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="universe"):
        job_attributes({"universe": "martian"})
    with pytest.raises(ValueError, match="Broken"):
        job_attributes({"+Broken": "1 +"})

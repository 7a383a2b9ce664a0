"""User-log events: written as HTCondor writes them, termination events read back."""

from __future__ import annotations

from pathlib import Path

from aglidein.condor.userlog import JobEnd, format_event, read_new_job_ends


def test_reads_only_complete_new_termination_events(tmp_path: Path) -> None:
    log = tmp_path / "glideins.log"
    log.write_text(
        format_event(0, 7, 0, 0, "Job submitted from host: <x>")
        + format_event(5, 7, 0, 60, "Job terminated.", "(1) Normal termination (return value 10)")
        + format_event(5, 7, 1, 61, "Job terminated.", "(0) Abnormal termination (signal 9)")
    )
    ends, offset = read_new_job_ends(log, 0)
    assert ends == [JobEnd(7, 0, 10, None), JobEnd(7, 1, None, 9)]
    with log.open("a") as handle:
        handle.write("005 (007.002.000) 2026-01-01 00:00:00 Job terminated.\n\t(1) Normal")
    assert read_new_job_ends(log, offset) == ([], offset)  # half an event: wait for the rest
    with log.open("a") as handle:
        handle.write(" termination (return value 0)\n...\n")
    more, _ = read_new_job_ends(log, offset)
    assert more == [JobEnd(7, 2, 0, None)]
    assert read_new_job_ends(tmp_path / "missing.log", 5) == ([], 5)

"""User-log events: written as HTCondor writes them, termination events read back."""

from __future__ import annotations

from pathlib import Path

from aglidein.condor.userlog import JobEnd, format_event, read_new_job_ends
from aglidein.core.lifecycle import exit_reason


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


def test_an_aborted_job_is_an_end_counted_as_removed(tmp_path: Path) -> None:
    # issue 13: `009 Job was aborted` (condor_rm, a drain, a periodic_remove) was
    # ignored, so removed glideins were never counted.
    log = tmp_path / "glideins.log"
    log.write_text(
        format_event(0, 8, 0, 0, "Job submitted from host: <x>")
        + format_event(9, 8, 0, 30, "Job was aborted.", "via condor_rm (by user aglidein)")
        + format_event(12, 8, 1, 31, "Job was held.", "Code 3 Subcode 0")
    )
    ends, _ = read_new_job_ends(log, 0)
    assert ends == [JobEnd(8, 0, None, None, removed=True)]
    assert exit_reason(ends[0].exit_code, ends[0].signal, removed=ends[0].removed) == "removed"


def test_the_offset_counts_bytes_even_when_an_event_is_not_utf8(tmp_path: Path) -> None:
    # a hold reason in latin-1 decoded to U+FFFD (3 bytes): the offset went past the end,
    # the file looked rotated and every exit in it was counted again
    log = tmp_path / "glideins.log"
    log.write_bytes(
        format_event(12, 9, 0, 0, "Job was held.", "caf\xe9").encode("latin-1")
        + format_event(
            5, 9, 0, 60, "Job terminated.", "(1) Normal termination (return value 0)"
        ).encode()
    )
    ends, offset = read_new_job_ends(log, 0)
    assert ends == [JobEnd(9, 0, 0, None)]
    assert offset == log.stat().st_size
    assert read_new_job_ends(log, offset) == ([], offset)

"""What ``akjobd start`` reads to say why a daemon did not start, and how long it waits."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from akjob.daemon import firstbeat
from akjob.daemon.pidfile import PidFile

LOG = """\
2027-06-07 09:00:00,001 INFO akjob.daemon [pid 7] akjobd started (pid 7)
2027-06-07 09:00:00,002 ERROR akjob.daemon [pid 7] akjobd stopped by an error (pid 7)
Traceback (most recent call last):
  File "x.py", line 1, in <module>
    boom()
ValueError: the settings are odd
2027-06-07 09:00:00,003 INFO akjob.daemon [pid 7] cleaning up
"""


def test_the_last_problem_with_its_exception() -> None:
    assert firstbeat.last_problem(LOG) == (
        "akjobd stopped by an error (pid 7): ValueError: the settings are odd"
    )
    assert firstbeat.last_problem(LOG.splitlines()[0]) is None


def test_the_reason_reads_this_start_s_lines_and_akjobd_out(tmp_path: Path) -> None:
    old = "2027-06-06 09:00:00,000 ERROR akjob.daemon [pid 6] an old error\n"
    (tmp_path / "akjobd.log").write_text(old)
    start = firstbeat.size(tmp_path / "akjobd.log")
    assert firstbeat.log_reason(tmp_path, start) == f"nothing logged; see {tmp_path}"
    with (tmp_path / "akjobd.log").open("a") as f:
        f.write("2027-06-07 09:00:00,000 WARNING akjob.daemon [pid 7] database error: gone\n")
    (tmp_path / "akjobd.out").write_text("Traceback (most recent call last):\nOSError: full\n\n")
    assert firstbeat.log_reason(tmp_path, start) == (
        "akjobd.log: database error: gone; akjobd.out: OSError: full"
    )


def test_waiting_for_the_heartbeat(tmp_path: Path) -> None:
    since = datetime.now(UTC)
    beats = iter([False, False, True])
    with PidFile(tmp_path / "akjobd.pid"):
        found = firstbeat.await_heartbeat(
            7, tmp_path / "akjobd.pid", since=since, deadline=time.monotonic() + 10, timeout=10,
            beat=lambda pid, at: next(beats),
        )  # fmt: skip
        assert found is None
        silent = firstbeat.await_heartbeat(
            7, tmp_path / "akjobd.pid", since=since, deadline=time.monotonic() + 0.1, timeout=3,
            beat=lambda pid, at: False,
        )  # fmt: skip
        assert silent == "it wrote no heartbeat within 3 s (AKJOB_START_TIMEOUT)"
    gone = firstbeat.await_heartbeat(
        7, tmp_path / "akjobd.pid", since=since, deadline=time.monotonic() + 10, timeout=10,
        beat=lambda pid, at: False,
    )  # fmt: skip
    assert gone == "it exited before its first heartbeat"

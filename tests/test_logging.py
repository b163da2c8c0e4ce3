"""akjob's log files: written by the daemon process only, one file per record, loggers propagate."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path

import pytest

from akjob import log
from akjob.akjob_logger import AkjobLogging


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    log.reset()
    log._state.routes.clear()
    yield
    log.reset()
    log._state.routes.clear()
    for name in ("akjob.JobTest", "akjob.job.Nested", "akjob.Other"):
        logging.getLogger(name).handlers.clear()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_nothing_is_written_until_the_daemon_configures_logging(tmp_path: Path) -> None:
    logger = AkjobLogging(name="JobTest", logfilename="akjob.job.log").get_logger()
    logger.warning("in the web process")
    logging.getLogger("akjob.daemon").warning("no file either")
    assert not log.is_configured()
    assert logger.handlers == []
    assert list(tmp_path.iterdir()) == []


def test_daemon_and_job_loggers_each_get_their_file(tmp_path: Path) -> None:
    log.configure_daemon_logging(tmp_path)
    logging.getLogger("akjob.daemon").info("daemon says hi")
    logging.getLogger("akjob.claim").info("another akjob logger")
    logging.getLogger("akjob.job").info("job says hi")
    logging.getLogger("akjob.job.sub").info("job child says hi")
    for handler in log._state.handlers.values():
        handler.flush()
    daemon_log, job_log = lines(tmp_path / "akjobd.log"), lines(tmp_path / "akjob.job.log")
    assert [line.split("] ", 1)[1] for line in daemon_log] == [
        "daemon says hi",
        "another akjob logger",
    ]
    assert [line.split("] ", 1)[1] for line in job_log] == ["job says hi", "job child says hi"]
    assert "INFO akjob.daemon [pid " in daemon_log[0]


def test_files_rotate_at_midnight_and_keep_15_days(tmp_path: Path) -> None:
    log.configure_daemon_logging(tmp_path)
    handlers = list(log._state.handlers.values())
    assert {Path(h.baseFilename).name for h in handlers} == {"akjobd.log", "akjob.job.log"}
    for handler in handlers:
        assert isinstance(handler, TimedRotatingFileHandler)
        assert handler.when == "MIDNIGHT"
        assert handler.backupCount == 15


def test_configure_twice_adds_no_second_handler(tmp_path: Path) -> None:
    log.configure_daemon_logging(tmp_path)
    log.configure_daemon_logging(tmp_path)
    assert len(logging.getLogger("akjob").handlers) == 1
    assert len(logging.getLogger("akjob.job").handlers) == 1


def test_akjob_logging_as_in_the_seed(tmp_path: Path) -> None:
    class JobTest:
        logger = AkjobLogging(
            name="JobTest",
            logfilename="akjob.job.log",
            format_str=AkjobLogging.multiline_format_str,
        ).get_logger()

    AkjobLogging(name="JobTest", logfilename="akjob.job.log").get_logger()  # again: no duplicate
    log.configure_daemon_logging(tmp_path)  # the daemon starts after the class was imported
    AkjobLogging(name="JobTest", logfilename="akjob.job.log").get_logger()
    assert JobTest.logger.name == "akjob.JobTest"
    assert JobTest.logger.propagate
    assert len(JobTest.logger.handlers) == 1
    JobTest.logger.info("Working with job named X")
    logging.getLogger("akjob.job").info("plain job line")
    for handler in log._state.handlers.values():
        handler.flush()
    job_log = lines(tmp_path / "akjob.job.log")
    assert job_log[1] == "    Working with job named X"  # the multi-line format
    assert "INFO akjob.JobTest " in job_log[0]
    assert job_log[2].endswith("] plain job line")
    assert len(job_log) == 3
    assert "Working with job named X" not in (tmp_path / "akjobd.log").read_text()


def test_akjob_logging_to_its_own_file(tmp_path: Path) -> None:
    log.configure_daemon_logging(tmp_path)
    logger = AkjobLogging("Other", "other.log", AkjobLogging.singleline_format_str).get_logger()
    logger.warning("only here")
    for handler in log._state.handlers.values():
        handler.flush()
    assert lines(tmp_path / "other.log")[0].endswith("] only here")
    assert "only here" not in (tmp_path / "akjobd.log").read_text()


def test_records_still_propagate_to_the_projects_logging(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log.configure_daemon_logging(tmp_path)
    logger = AkjobLogging(name="job.Nested").get_logger()
    assert logger.name == "akjob.job.Nested"
    with caplog.at_level(logging.INFO):
        logger.info("seen by the project too")
        logging.getLogger("akjob.daemon").info("daemon line")
    assert [r.getMessage() for r in caplog.records] == ["seen by the project too", "daemon line"]
    for handler in log._state.handlers.values():
        handler.flush()
    assert len(lines(tmp_path / "akjob.job.log")) == 2  # multi-line format, written once


def test_a_level_set_by_the_project_is_kept(tmp_path: Path) -> None:
    akjob_logger = logging.getLogger("akjob")
    akjob_logger.setLevel(logging.WARNING)
    try:
        log.configure_daemon_logging(tmp_path)
        assert akjob_logger.level == logging.WARNING
    finally:
        akjob_logger.setLevel(logging.NOTSET)


def test_stderr_echo_for_the_foreground_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    streams = log.configure_daemon_logging(tmp_path, stderr=True)
    assert any(getattr(s, "name", "").endswith("akjobd.log") for s in streams)
    assert sys.stderr in streams
    logging.getLogger("akjob.daemon").info("to the terminal")
    assert "to the terminal" in capsys.readouterr().err


def test_akjob_logging_needs_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        AkjobLogging("")


def test_forked_job_processes_leave_rotation_to_the_daemon(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "from akjob import log\n"
        "log.configure_daemon_logging(sys.argv[1])\n"
        "before = {h.rolloverAt for h in log._state.handlers.values()}\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    after = {h.rolloverAt for h in log._state.handlers.values()}\n"
        "    os._exit(0 if after == {sys.maxsize} else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "still = {h.rolloverAt for h in log._state.handlers.values()} == before\n"
        "print(os.waitstatus_to_exitcode(status), still)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert result.stdout.strip() == "0 True", result.stderr


def test_the_previous_akjobd_out_is_kept_up_to_n(tmp_path: Path) -> None:
    out = tmp_path / "akjobd.out"
    log.keep_previous_out(tmp_path, 3)  # nothing yet
    for start in range(1, 6):
        out.write_text(f"start {start}\n")
        log.keep_previous_out(tmp_path, 3)
        assert not out.exists()
    kept = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert kept == {
        "akjobd.out.1": "start 5\n",
        "akjobd.out.2": "start 4\n",
        "akjobd.out.3": "start 3\n",
    }
    out.write_text("")  # an empty one holds nothing to read: the others stay
    log.keep_previous_out(tmp_path, 3)
    assert (tmp_path / "akjobd.out.1").read_text() == "start 5\n"


def test_project_loggers_go_to_the_job_log_inside_a_run_and_to_akjobd_log_outside(
    tmp_path: Path,
) -> None:
    from akjob.context import RunInfo, running

    root = logging.getLogger()
    before = root.level
    log.configure_daemon_logging(tmp_path)
    assert root.level == logging.INFO  # the project's loggers' INFO lines are not lost
    mine = logging.getLogger("myproject.jobs")
    with running(RunInfo(run_id=12, job_id=3, scheduled=None)):
        mine.info("inside")
        logging.getLogger("akjob.job").info("akjob's own")
    mine.warning("outside")
    for handler in log._state.handlers.values():
        handler.flush()
    job_log = lines(tmp_path / "akjob.job.log")
    assert job_log[0].endswith(f" INFO myproject.jobs [job 3 run 12 pid {os.getpid()}] inside")
    assert job_log[1].endswith("] akjob's own") and len(job_log) == 2
    daemon_log = lines(tmp_path / "akjobd.log")
    assert [line.split("] ", 1)[1] for line in daemon_log] == ["outside"]
    log.reset()
    assert root.level == before


def test_run_context_for_the_project_s_own_handlers() -> None:
    from akjob.context import RunInfo, running

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    log.RunContext().filter(record)
    assert (record.akjob_job, record.akjob_run) == ("-", "-")
    with running(RunInfo(run_id=None, job_id=5, scheduled=None)):
        log.RunContext().filter(record)
    assert (record.akjob_job, record.akjob_run) == (5, "-")

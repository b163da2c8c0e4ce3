"""akjob's database vanishing under a running akjobd (the SQLite file deleted, a table dropped)
stops akjobd with a clear log line, and ``status`` says why, instead of running on against
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.project import alive, wait_for
from tests.acceptance.sites import Site

pytestmark = pytest.mark.acceptance


def test_a_vanished_database_stops_akjobd_and_status_says_why(site: Site, tmp_path: Path):
    site.make(
        f'make("plain", jobs.Mark({str(tmp_path / "marks")!r}), run_every=timedelta(seconds=1))'
    )
    pid = site.start()
    wait_for(lambda: (tmp_path / "marks").exists(), timeout=20, what="a first run")
    if site.db is None:
        site.project.db.unlink()
        expected = "is gone"
    else:
        site.db.query("DROP TABLE akjob_jobrun")
        expected = "tables are gone"
    wait_for(lambda: not alive(pid), timeout=20, what="akjobd to stop")
    log = (site.project.log_dir / "akjobd.log").read_text()
    assert "akjobd stopped by an error" in log and expected in log
    status = site.project.manage("akjobd", "status", check=False)
    assert status.returncode == 3
    said = status.stdout + status.stderr
    assert "not running; it stopped by an error" in said and expected in said

"""A bad declaration fails ``manage.py check`` with the function's name and the option, and the
web process starts and serves all the same (real processes, a throw-away project)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.acceptance.project import Project

pytestmark = pytest.mark.acceptance

SETTINGS = """
INSTALLED_APPS = [*INSTALLED_APPS, "tests.incode.badapp"]
"""

SERVE = """
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
from django.test import Client
print(Client().get("/admin/login/", HTTP_HOST="localhost").status_code)
"""


def test_check_fails_and_the_web_process_serves(tmp_path) -> None:
    project = Project(tmp_path, extra=SETTINGS)
    project.manage("migrate", "--noinput", "--skip-checks", timeout=120)
    check = project.manage("check", check=False)
    assert check.returncode == 1
    assert "akjob.E005" in check.stderr
    assert "tests.incode.badapp.models.nightly" in check.stderr
    assert "every: 'soon' is not a duration" in check.stderr
    served = subprocess.run(
        [sys.executable, "-c", SERVE],
        cwd=tmp_path,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.split()[-1] == "200"

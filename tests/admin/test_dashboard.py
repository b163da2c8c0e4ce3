"""The admin dashboard, rendered by the test client: what it shows, the charts' numbers, the
banner, permissions. (The browser test with screenshots is test_dashboard_browser.py.)"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from akjob import charts
from akjob.dashboard import hourly
from tests.admin.conftest import NOW
from tests.admin.dashdata import fill

pytestmark = pytest.mark.django_db
URL = "/admin/akjob/dashboard/"


@pytest.fixture
def admin_client_at(frozen, admin_client):
    return admin_client


def test_the_page_shows_daemons_problems_and_runs(admin_client_at):
    fill(NOW)
    response = admin_client_at.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "akjob-no-daemon" not in html
    daemons = html[html.index('id="akjob-daemons"') : html.index('id="akjob-problems"')]
    assert "web1" in daemons and '<span class="akjob-ok">alive</span>' in daemons
    assert "dead (no heartbeat for 10800 s)" in daemons and "stopped" in daemons
    problems = html[html.index('id="akjob-problems"') : html.index('id="akjob-running"')]
    assert "nightly &lt;b&gt;backup&lt;/b&gt;" in problems  # escaped
    assert "overdue" in problems and "flaky" in problems and "failing" in problems
    running = html[html.index('id="akjob-running"') : html.index('<div class="akjob-charts">')]
    assert "stuck: its akjobd stopped renewing it" in running
    assert html.count('class="akjob-chart"') == 2


def test_the_banner_when_no_daemon_is_alive(admin_client_at):
    fill(NOW, alive=False)
    html = admin_client_at.get(URL).content.decode()
    assert 'id="akjob-no-daemon"' in html and "No akjobd is alive" in html


def test_the_banner_with_no_daemon_ever(admin_client_at):
    html = admin_client_at.get(URL).content.decode()
    assert "No akjobd is alive" in html and "No akjobd has run in the last 24 hours" in html
    assert "no runs in these hours" in html


def test_hourly_counts_and_lateness(frozen):
    fill(NOW)
    data = hourly(NOW)
    assert len(data.labels) == 24 and data.labels[-1] == "09:00"
    one_ago = data.counts[-2]  # 08:00: report succeeded, flaky once, the stuck run
    assert one_ago == {"succeeded": 2, "running": 1}
    seven_ago = data.counts[-8]  # report failed at h = 7 (7 % 3 = 1 flaky run)
    assert seven_ago == {"failed": 1, "succeeded": 1}
    four_ago = data.counts[-5]
    assert four_ago == {"succeeded": 2, "missed": 1}
    # 08:00: the stuck run on time, report 0.5 s late, flaky 8 × 0.5 s.
    assert data.p50[-2] == pytest.approx(0.5) and data.p99[-2] == pytest.approx(4.0)
    assert data.p50[-1] is None and data.counts[-1] == {}  # 09:00 has just begun
    assert data.p50[0] is None and data.counts[0] == {}


def test_the_charts_draw_what_they_are_given():
    svg = charts.runs_per_hour(["00:00", "01:00"], [{"succeeded": 3, "failed": 1}, {}], "t")
    bars = re.findall(r'data-status="([^"]+)" data-count="(\d+)"', svg)
    assert bars == [("succeeded", "3"), ("failed", "1")]
    assert "<script" not in svg and "http://www.w3.org/2000/svg" in svg
    svg = charts.lateness_per_hour(["a", "b", "c"], {"p50": [0.1, None, 0.3]}, "<t>")
    assert svg.count('class="akjob-point"') == 2 and "<title>&lt;t&gt;</title>" in svg
    assert charts.nice_ceiling(7) == 10 and charts.nice_ceiling(0.3) == 0.5
    assert charts.axis_top(5) == 8 and charts.axis_top(4) == 4 and charts.axis_top(0) == 4


def test_linked_from_the_index_and_the_job_list(admin_client_at):
    index = admin_client_at.get("/admin/").content.decode()
    assert URL in index and "Dashboard" in index
    jobs = admin_client_at.get("/admin/akjob/job/").content.decode()
    assert f'href="{URL}"' in jobs


def test_needs_the_permission_to_view_jobs(frozen):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(User.objects.get(pk=user.pk))
    assert client.get(URL).status_code == 200
    assert Client().get(URL).status_code == 302  # to the login page


def test_nothing_to_add_change_or_delete(admin_client_at):
    assert admin_client_at.get(URL + "add/").status_code in (403, 404, 302)


def test_last_hours_only(frozen):
    fill(NOW)
    data = hourly(NOW + timedelta(hours=30))
    assert all(not c for c in data.counts)

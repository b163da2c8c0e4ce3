"""The admin never unpickles a stored code object (docs/security.md): tampered rows and raw pickle
payloads render on every page, the payload never runs, and the signature state is shown."""

from __future__ import annotations

import pickle
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse

from akjob import codeobjects
from akjob.models import Job
from tests.admin.conftest import job_form
from tests.admin.jobfuncs import Canary

pytestmark = pytest.mark.django_db


def flipped(blob: bytes) -> bytes:
    data = bytearray(blob)
    data[-5] ^= 0x01  # a byte inside the pickle
    return bytes(data)


def payloads(canary: Path) -> dict[str, bytes]:
    raw = pickle.dumps(Canary(str(canary)))
    signed = codeobjects.dumps(codeobjects.JobCallable("tests.admin.jobfuncs.cleanup"))
    forged = b":".join([b"akjob", b"1", codeobjects.PYTHON, b"0" * 64, raw])
    return {"raw pickle": raw, "forged signature": forged, "flipped byte": flipped(signed)}


@pytest.fixture
def never_unpickle(monkeypatch):
    """Any unpickling in this test fails it."""

    def refuse(*args, **kwargs):
        raise AssertionError("the admin unpickled a stored code object")

    monkeypatch.setattr(codeobjects, "loads", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


@pytest.mark.parametrize("kind", ["raw pickle", "forged signature", "flipped byte"])
def test_malicious_code_objects_render_without_being_unpickled(
    admin_client, tmp_path, never_unpickle, kind
):
    canary = tmp_path / "canary"
    blob = payloads(canary)[kind]
    job = Job.objects.create(name="evil", run_every=timedelta(hours=1))
    Job.objects.filter(pk=job.pk).update(_job_code=blob)
    pages = [
        reverse("admin:akjob_job_changelist"),
        reverse("admin:akjob_job_change", args=[job.pk]),
        reverse("admin:akjob_job_upcoming"),
        reverse("admin:akjob_jobrun_changelist"),
    ]
    for url in pages:
        assert admin_client.get(url).status_code == 200, url
    page = admin_client.get(pages[1]).content.decode()
    assert "signature INVALID, the job will not be run" in page
    # Saving the job without choosing a function keeps the bytes as they are, unread.
    response = admin_client.post(pages[1], job_form(job, name="renamed"))
    assert response.status_code == 302
    assert bytes(Job.objects.get(pk=job.pk)._job_code) == blob
    # Actions read nothing either.
    data = {"action": "disable_jobs", "_selected_action": [job.pk], "index": "0"}
    admin_client.post(reverse("admin:akjob_job_changelist"), data)
    assert not Job.objects.get(pk=job.pk).job_enabled
    assert not canary.exists()


def test_a_valid_code_object_is_not_unpickled_either(
    frozen, admin_client, weekly_job, never_unpickle
):
    page = admin_client.get(reverse("admin:akjob_job_change", args=[weekly_job.pk]))
    assert "signature OK" in page.content.decode()
    assert "send_report(&quot;ops&quot;)" in page.content.decode()


def test_a_signed_payload_is_shown_by_name_and_never_runs(admin_client, tmp_path, viewer_client):
    """A pickle signed with the key (so it verifies) is read inertly: what it names is shown,
    nothing it names is imported or called."""
    canary = tmp_path / "canary"
    job = Job.objects.create(name="signed payload", run_every=timedelta(hours=1))
    blob = codeobjects.sign(pickle.dumps(Canary(str(canary))), job=job.pk, version=0)
    Job.objects.filter(pk=job.pk).update(_job_code=blob, _code_version=0)
    for client in (admin_client, viewer_client):
        page = client.get(reverse("admin:akjob_job_change", args=[job.pk]))
        assert page.status_code == 200
        assert "made in Python" in page.content.decode()
    assert not canary.exists()


def test_form_input_is_never_unpickled_or_imported_beyond_the_registry(
    admin_client, tmp_path, never_unpickle
):
    # A pickle or an arbitrary dotted path as "function" is just an invalid choice.
    canary = tmp_path / "canary"
    evil = pickle.dumps(Canary(str(canary))).decode("latin-1")
    for choice in (evil, "os.system", "tests.admin.jobfuncs.Canary"):
        data = job_form(name="x", function=choice, run_every="01:00:00", arguments='["y"]')
        response = admin_client.post(reverse("admin:akjob_job_add"), data)
        assert response.status_code == 200
        assert "function" in response.context["adminform"].form.errors
    assert not Job.objects.exists()
    assert not canary.exists()

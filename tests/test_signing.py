"""Signatures bind a code object to its job and to a version of it (docs/security.md); ``akjobd
resign`` signs every row again after a key rotation; the migration that brought versions signs
the rows of the first format."""

from __future__ import annotations

import pickle
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from akjob import codeobjects, signing
from akjob.exceptions import InvalidJobCode, SignatureError
from akjob.models import Job, JobCallable

pytestmark = pytest.mark.django_db

HELLO = JobCallable("builtins.print", "hello")
KEY = "akjob-tests-not-secret"  # tests/settings.py


def saved(code: object = HELLO, *, name: str = "job") -> Job:
    job = Job(name=name, run_every=timedelta(hours=1), job_code_object=code)
    job.save()
    return Job.objects.get(pk=job.pk)


def row(job: Job) -> tuple[bytes | None, int]:
    blob, version = Job.objects.filter(pk=job.pk).values_list("_job_code", "_code_version").get()
    return (None if blob is None else bytes(blob)), version


def first_format(code: object, key: str = KEY) -> bytes:
    """A blob as akjob signed them before signatures were bound to jobs."""
    data = pickle.dumps(code, protocol=pickle.HIGHEST_PROTOCOL)
    stored = codeobjects.Stored(b"1", codeobjects.PYTHON, b"", b"", b"", data)
    return b":".join(
        [b"akjob", b"1", codeobjects.PYTHON, codeobjects._mac(stored.message(), key), data]
    )


def test_a_blob_copied_to_another_job_is_refused_with_the_reason() -> None:
    a, b = saved(name="a"), saved(JobCallable("builtins.print", "b"), name="b")
    Job.objects.filter(pk=b.pk).update(_job_code=row(a)[0], _code_version=row(a)[1])
    with pytest.raises(SignatureError, match=rf"signed for job {a.pk}, not for job {b.pk}"):
        _ = Job.objects.get(pk=b.pk).job_code_object


def test_a_copy_made_through_the_api_is_refused_too() -> None:
    a, b = saved(name="a"), saved(name="b")
    b._job_code = a._job_code  # raw: never signed again for b
    b.save()
    with pytest.raises(SignatureError, match="copied from another job"):
        _ = Job.objects.get(pk=b.pk).job_code_object


def test_an_older_blob_put_back_is_refused_with_the_reason() -> None:
    job = saved()
    old_blob, old_version = row(job)
    job.job_code_object = JobCallable("builtins.print", "newer")
    job.save()
    assert row(job)[1] == old_version + 1
    Job.objects.filter(pk=job.pk).update(_job_code=old_blob)
    with pytest.raises(SignatureError, match=r"version 1 but job \d+ is at version 2"):
        _ = Job.objects.get(pk=job.pk).job_code_object


def test_a_blob_of_the_first_format_is_refused_at_load() -> None:
    job = saved()
    Job.objects.filter(pk=job.pk).update(_job_code=first_format(HELLO))
    with pytest.raises(SignatureError, match="first format.*akjobd resign"):
        _ = Job.objects.get(pk=job.pk).job_code_object


def test_the_admin_shows_a_copied_blob_invalid_without_unpickling(admin_client, monkeypatch):
    a, b = saved(name="a"), saved(name="b")
    Job.objects.filter(pk=b.pk).update(_job_code=row(a)[0], _code_version=row(a)[1])
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    page = admin_client.get(reverse("admin:akjob_job_change", args=[b.pk])).content.decode()
    assert "signature INVALID, the job will not be run" in page
    page = admin_client.get(reverse("admin:akjob_job_change", args=[a.pk])).content.decode()
    assert "signature OK" in page


# -- akjobd resign ----------------------------------------------------------------------------


def resign() -> tuple[int, str, str]:
    """``manage.py akjobd resign``: exit status, stdout, stderr (as one line)."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("akjobd", "resign", stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), ""


def test_resign_after_a_key_rotation_signs_every_row_with_the_new_key() -> None:
    with override_settings(SECRET_KEY="old-key"):
        jobs = [saved(name=str(i)) for i in range(3)]
        blobs = [row(job) for job in jobs]
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        code, out, _ = resign()
        assert code == 0
        assert "3 job code object(s) signed with the current SECRET_KEY, 0 already were." in out
        assert resign()[1].startswith("0 job code object(s) signed")  # nothing left to do
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[]):
        for job, (blob, version) in zip(jobs, blobs, strict=True):
            fresh = Job.objects.get(pk=job.pk)
            assert fresh.job_code_object == HELLO
            assert fresh._code_version == version + 1
            assert codeobjects.split(fresh._job_code).data == codeobjects.split(blob).data
    # The blob signed with the old key is an older version now: refused, even with the old key.
    with override_settings(SECRET_KEY="old-key"):
        Job.objects.filter(pk=jobs[0].pk).update(_job_code=blobs[0][0])
        with pytest.raises(SignatureError, match="older code object"):
            _ = Job.objects.get(pk=jobs[0].pk).job_code_object


def test_resign_lists_the_rows_it_cannot_verify_and_leaves_them(capsys) -> None:
    good = saved(name="good")
    with override_settings(SECRET_KEY="lost-key"):
        lost = saved(name="lost")
    copied = saved(name="copied")
    Job.objects.filter(pk=copied.pk).update(_job_code=row(good)[0], _code_version=row(good)[1])
    tampered = saved(name="tampered")
    blob = bytearray(row(tampered)[0] or b"")
    blob[-4] ^= 0x01
    Job.objects.filter(pk=tampered.pk).update(_job_code=bytes(blob))
    before = {job.pk: row(job) for job in (lost, copied, tampered)}
    code, out, err = resign()
    assert code == 1
    assert "3 job code object(s) verify with neither SECRET_KEY nor a fallback" in err
    listed = out + err
    assert f"job {lost.pk}: the job code object's signature does not verify" in listed
    assert f"job {copied.pk}: the job code object was signed for job {good.pk}" in listed
    assert f"job {tampered.pk}: " in listed
    assert f"job {good.pk}:" not in listed
    assert {pk: row(Job(pk=pk)) for pk in before} == before  # left as they are


def test_resign_signs_rows_of_the_first_format_for_their_job() -> None:
    job = saved()
    Job.objects.filter(pk=job.pk).update(_job_code=first_format(HELLO), _code_version=0)
    report = signing.resign_all()
    assert (report.resigned, report.left) == ([job.pk], [])
    fresh = Job.objects.get(pk=job.pk)
    assert (fresh._code_version, fresh.job_code_object) == (1, HELLO)


def test_resign_skips_a_row_saved_meanwhile_and_keeps_what_the_save_wrote(monkeypatch) -> None:
    with override_settings(SECRET_KEY="old-key"):
        job = saved()
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        real_check = codeobjects.check
        raced = []

        def save_during_the_check(blob, **kwargs):
            if not raced:  # a user saves a new code object while resign looks at the row
                raced.append(True)
                other = Job.objects.get(pk=job.pk)
                other.job_code_object = JobCallable("builtins.print", "theirs")
                other.save()
            return real_check(blob, **kwargs)

        monkeypatch.setattr(codeobjects, "check", save_during_the_check)
        report = signing.resign_all()
        assert (report.resigned, report.current, report.left) == ([], [job.pk], [])
        assert Job.objects.get(pk=job.pk).job_code_object == JobCallable("builtins.print", "theirs")


def test_sign_rows_signs_code_for_jobs_inserted_in_bulk() -> None:
    jobs = Job.objects.bulk_create(Job(name=str(i), run_every=timedelta(hours=1)) for i in range(3))
    ids = [job.pk for job in jobs] or list(Job.objects.values_list("pk", flat=True))
    assert signing.sign_rows(HELLO, ids) == 3
    assert [Job.objects.get(pk=pk).job_code_object for pk in ids] == [HELLO] * 3
    with pytest.raises(InvalidJobCode):
        signing.sign_rows(object(), ids)


# -- the migration ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_signs_rows_of_the_first_format(day_tables_after_migrations) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("akjob", "0004_run_in_progress")])
    old = executor.loader.project_state(("akjob", "0004_run_in_progress")).apps
    OldJob = old.get_model("akjob", "Job")  # noqa: N806
    with override_settings(SECRET_KEY="old-key"):
        kept = OldJob.objects.create(name="kept", _job_code=first_format(HELLO, "old-key"))
    lost = OldJob.objects.create(name="lost", _job_code=first_format(HELLO, "lost-key"))
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes("akjob"))
        fresh = Job.objects.get(pk=kept.pk)
        assert (fresh._code_version, fresh.job_code_object) == (1, HELLO)
        assert codeobjects.split(fresh._job_code).format == codeobjects.FORMAT
    assert Job.objects.get(pk=lost.pk)._code_version == 0
    assert codeobjects.split(Job.objects.get(pk=lost.pk)._job_code).format == b"1"


@pytest.fixture
def day_tables_after_migrations(transactional_db: None):
    """A transactional test's flush empties the day tables the data migration filled."""
    from akjob import daytables, models

    yield
    daytables.fill(lambda name: getattr(models, name))

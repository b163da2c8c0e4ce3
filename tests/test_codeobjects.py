"""Job code objects: pickled, signed, verified before unpickling (docs/security.md)."""

from __future__ import annotations

import pickle
import sys
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from akjob import codeobjects
from akjob.exceptions import InvalidJobCode, JobCodeError, SignatureError
from akjob.models import Job, JobCallable

pytestmark = pytest.mark.django_db


class NoRun:
    pass


class Canary:
    """Unpickling this writes a file: proof that a payload was executed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "pwned"))


def _gen():
    yield 1


class Notes:
    """A code object with state of its own."""

    def __init__(self):
        self.items = []

    def run(self, ownjob):
        self.items.append("ran")


class Holder:
    def __init__(self):
        self.lock = threading.Lock()

    def method(self):
        return 1


@pytest.mark.parametrize(
    "obj,words",
    [
        (JobCallable(lambda: 1), "cannot be pickled"),
        (JobCallable(print, _gen()), "cannot be pickled"),
        (JobCallable(Holder().method), "cannot be pickled"),
        (JobCallable(print, open(__file__)), "cannot be pickled"),  # noqa: SIM115
        (NoRun(), "run(ownjob)"),
    ],
    ids=["lambda", "generator", "bound method of unpicklable", "open file", "no run"],
)
def test_unstorable_code_objects_are_refused_at_assignment(obj, words):
    job = Job(name="x")
    with pytest.raises(InvalidJobCode) as info:
        job.job_code_object = obj
    assert isinstance(info.value, ValidationError)
    assert words in info.value.message_dict["job_code_object"][0]
    assert job._job_code is None
    assert Job.objects.count() == 0


class NeedsOwnjob:
    def run(self, ownjob):
        return None


class RunWithoutOwnjob:
    def run(self):
        return None


@pytest.mark.parametrize(
    "make,words",
    [
        (lambda: JobCallable(""), "dotted path such as 'app.tasks.report', not ''"),
        (lambda: JobCallable("report"), "dotted path"),
        (lambda: JobCallable("app..report"), "dotted path"),
        (lambda: JobCallable("app.tasks.report()"), "dotted path"),
        (lambda: JobCallable("app.class.report"), "dotted path"),
        (lambda: JobCallable(5), "(a int, which cannot be called)"),
        (lambda: JobCallable(None), "cannot be called"),
    ],
    ids=["empty", "no dot", "empty part", "call", "keyword", "int", "None"],
)
def test_job_callables_that_cannot_run_are_refused_at_construction(make, words):
    with pytest.raises(InvalidJobCode) as info:
        make()
    assert words in info.value.message_dict["job_code_object"][0]


@pytest.mark.parametrize(
    "obj,words",
    [
        (NeedsOwnjob, "NeedsOwnjob is a class (assign NeedsOwnjob() instead)"),
        (JobCallable, "JobCallable is a class"),
        (RunWithoutOwnjob(), "RunWithoutOwnjob.run() cannot be called as run(ownjob=job)"),
        (print, "builtin_function_or_method has none"),
    ],
    ids=["class with run", "JobCallable class", "run without ownjob", "function"],
)
def test_code_objects_that_cannot_run_are_refused_at_assignment(obj, words):
    job = Job(name="x")
    with pytest.raises(InvalidJobCode) as info:
        job.job_code_object = obj
    assert words in info.value.message_dict["job_code_object"][0]
    assert job._job_code is None
    job.job_code_object = NeedsOwnjob()  # an instance is fine
    job.save()


def test_closure_refused():
    def outer():
        x = 1

        def inner():
            return x

        return inner

    with pytest.raises(InvalidJobCode):
        Job(name="x").job_code_object = JobCallable(outer())


def _stored_job(obj) -> Job:
    job = Job.objects.create(name="x")
    job.job_code_object = obj
    job.save()
    return Job.objects.get(pk=job.pk)


def test_flipped_byte_is_refused():
    job = _stored_job(JobCallable(print, "hello"))
    blob = bytearray(bytes(job._job_code))
    blob[-5] ^= 0x01
    Job.objects.filter(pk=job.pk).update(_job_code=bytes(blob))
    with pytest.raises(SignatureError, match="signature"):
        _ = Job.objects.get(pk=job.pk).job_code_object


def test_malicious_payload_is_never_unpickled(tmp_path):
    canary = tmp_path / "canary"
    job = _stored_job(JobCallable(print, "hello"))
    stored = codeobjects.split(job._job_code)
    head = [b"akjob", b"2", stored.python, stored.job, stored.version, stored.mac]
    forged = b":".join([*head, pickle.dumps(Canary(str(canary)))])
    Job.objects.filter(pk=job.pk).update(_job_code=forged)
    with pytest.raises(SignatureError):
        _ = Job.objects.get(pk=job.pk).job_code_object
    assert not canary.exists()
    # A raw pickle without akjob's format is refused too.
    Job.objects.filter(pk=job.pk).update(_job_code=pickle.dumps(Canary(str(canary))))
    with pytest.raises(SignatureError, match="format"):
        _ = Job.objects.get(pk=job.pk).job_code_object
    assert not canary.exists()


def test_old_key_verifies_through_fallbacks():
    with override_settings(SECRET_KEY="old-key"):
        job = _stored_job(JobCallable(print, "hello"))
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        assert Job.objects.get(pk=job.pk).job_code_object == JobCallable(print, "hello")
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[]):
        with pytest.raises(SignatureError):
            _ = Job.objects.get(pk=job.pk).job_code_object


def test_an_unchanged_code_object_is_saved_without_signing_again(monkeypatch):
    job = _stored_job(Notes())
    stored = bytes(job._job_code)
    assert isinstance(job.job_code_object, Notes)
    signed = []
    monkeypatch.setattr(codeobjects, "_mac", lambda *a: signed.append(a) or b"x")
    job.save()  # what a worker does after every run
    assert signed == []
    assert bytes(Job.objects.get(pk=job.pk)._job_code) == stored


def test_a_changed_code_object_is_signed_again():
    job = _stored_job(Notes())
    job.job_code_object.items.append("new")  # the code changed its own state
    job.save()
    again = Job.objects.get(pk=job.pk)
    assert again.job_code_object.items == ["new"]


def test_a_job_saved_after_a_key_rotation_is_signed_with_the_new_key():
    with override_settings(SECRET_KEY="old-key"):
        job = _stored_job(JobCallable(print, "hello"))
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        job = Job.objects.get(pk=job.pk)
        assert job.job_code_object == JobCallable(print, "hello")
        job.save()  # unchanged, but signed with a fallback: signed again
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[]):
        assert Job.objects.get(pk=job.pk).job_code_object == JobCallable(print, "hello")


def test_payload_from_another_python_is_reported_incompatible():
    blob = codeobjects.sign(b"\x80\x05not a pickle", job=3, version=1, python=b"2.7")
    with pytest.raises(JobCodeError, match=r"Python 2\.7.*incompatible"):
        codeobjects.loads(blob, job=3, version=1)
    assert codeobjects.PYTHON == f"{sys.version_info[0]}.{sys.version_info[1]}".encode()


def test_dotted_path_callable_resolves_at_run_time():
    code = JobCallable("os.path.join", "a", "b")
    assert code.run() == "a/b"
    assert "os.path.join" in repr(code)

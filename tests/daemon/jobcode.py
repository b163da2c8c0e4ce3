"""Job code objects used by the daemon tests (importable, so they pickle)."""

from __future__ import annotations

import os

from tests.acceptance.jobs import LeaveChild, LeavePopen  # noqa: F401 - shared with those tests


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def run(self, ownjob):
        self.count += 1


class Boom:
    def run(self, ownjob):
        raise RuntimeError("boom from the job")


class Rename:
    def run(self, ownjob):
        ownjob.name += "!"


class DeleteSelf:
    def run(self, ownjob):
        ownjob.delete()


class DeleteMe:
    def run(self, ownjob):
        ownjob.deleteme = True


class Exit:
    def run(self, ownjob):
        raise SystemExit(3)


class HardExit:
    def run(self, ownjob):
        os._exit(1)


class WhoAmI:
    """Keeps what ``akjob.context.current_run()`` said (saved back with the code object)."""

    def __init__(self) -> None:
        self.seen = None

    def run(self, ownjob):
        from akjob.context import current_run

        self.seen = current_run()


class FailFirst(WhoAmI):
    """Fails its first attempt; keeps what ``current_run()`` said to the one that succeeds."""

    def run(self, ownjob):
        from akjob.context import current_run

        if current_run().attempt == 1:
            raise RuntimeError("the first attempt fails")
        super().run(ownjob)


class Mark:
    """Leaves a file named after its run id in ``folder``, holding the pid that ran it."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def run(self, ownjob):
        from akjob.context import current_run

        with open(os.path.join(self.folder, str(current_run().run_id)), "w") as f:
            f.write(str(os.getpid()))


class WaitFor:
    """Returns once the file ``gate`` exists (at most 30 s), keeping its worker busy until then."""

    def __init__(self, gate: str) -> None:
        self.gate = gate

    def run(self, ownjob):
        import time

        deadline = time.monotonic() + 30
        while not os.path.exists(self.gate) and time.monotonic() < deadline:
            time.sleep(0.01)


class Bulky:
    """A code object that pickles larger than one queued task may be."""

    def __init__(self, size: int) -> None:
        self.payload = b"x" * size

    def run(self, ownjob):
        return None


class ForkAndReturn:
    """Forks; both processes return from the job's code, each appending its pid to ``path``
    first. The parent returns only once the child has left (``child <pid> exited <status>``)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, ownjob):
        child = os.fork()
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()}\n")
        if child:
            _, status = os.waitpid(child, 0)
            with open(self.path, "a") as f:
                f.write(f"child {child} exited {os.waitstatus_to_exitcode(status)}\n")


class SpawnAndHang(LeavePopen):
    """Starts ``sleep 3600`` as a subprocess, appends its pid to ``path``, then hangs."""

    def run(self, ownjob):
        import time

        super().run(ownjob)
        time.sleep(3600)


class ReplacedMeanwhile:
    """While it runs, someone else (the admin, say) replaces its job's code object with a
    Counter at 100; then it changes its own state, which must not overwrite the replacement."""

    def __init__(self) -> None:
        self.count = 0

    def run(self, ownjob):
        from akjob.models import Job

        other = Job.objects.get(pk=ownjob.pk)
        replacement = Counter()
        replacement.count = 100
        other.job_code_object = replacement
        other.save()
        self.count += 1
        ownjob.name = "renamed by the run"

"""A real SMTP server for the tests: aiosmtpd in a process of its own, on a free local port,
keeping every message it receives in a Maildir."""

from __future__ import annotations

import mailbox
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

from tests.acceptance.project import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class SmtpServer:
    def __init__(self, port: int, maildir: Path) -> None:
        self.port, self.maildir = port, maildir

    def messages(self) -> list[Message]:
        """Every message received so far, in the order received."""
        box = mailbox.Maildir(self.maildir, create=False)
        found = [(m.get_date(), box[key]) for key, m in ((k, box[k]) for k in box.keys())]
        return [message for _, message in sorted(found, key=lambda item: item[0])]

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages()]


@contextmanager
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """Start aiosmtpd with its Maildir handler; stop it (SIGTERM, then SIGKILL) at the end."""
    port, maildir = free_port(), tmp_path / "maildir"
    mailbox.Maildir(maildir, create=True)
    errors = tmp_path / "aiosmtpd.err"
    with open(errors, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
            + ["-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_for(lambda: proc.poll() is not None or _answers(port), timeout=20, what="aiosmtpd")
        if proc.poll() is not None:
            raise AssertionError(f"aiosmtpd did not start: {errors.read_text()}")
        yield SmtpServer(port, maildir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""What a newcomer reads and types first: the README, ``make demo`` and ``make test``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
HEAVY = ("chromium", "chromium-driver", "libmariadb-dev", "[test", "apt-get")


def code_lines(text: str) -> list[str]:
    """The lines inside the fenced code blocks of a Markdown text."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines()]


def test_the_first_lines_give_the_two_commands() -> None:
    top = README.split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in code_lines(top)]
    assert commands == ["make demo", "make test"]


@pytest.mark.parametrize("page", ["README.md", "docs/install.md"])
def test_installing_says_what_works_before_a_release(page: str) -> None:
    text = (REPO / page).read_text()
    lines = code_lines(text)
    from_pypi = re.compile(r"pip install [\"']?akjob(\[[a-z,]+\])?[\"']?(?!\s*@)(\s|$)")
    assert not [line for line in lines if from_pypi.match(line)]  # nothing is published yet
    assert "pip install ." in lines or any(line.startswith("pip install . ") for line in lines)
    assert any(line.startswith("python -m build") for line in lines)
    assert any(line.startswith("pip install dist/akjob-") for line in lines)
    assert any("git+" in line for line in lines)


def test_the_readme_says_where_output_and_logs_go_and_who_starts_akjobd() -> None:
    for words in ("akjobd.out", "print", "akjob.job.log", "akjobd.log", "AKJOB_START_DAEMON=False"):
        assert words in README, words
    assert "AppConfig.ready()" in README


def test_the_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target


def dry_run(target: str, tmp_path: Path) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_demo_installs_only_what_the_demo_needs(tmp_path: Path) -> None:
    demo = dry_run("demo", tmp_path)
    assert "pip install -q -e .\n" in demo
    assert not [word for word in HEAVY if word in demo]
    assert "akjob_demo" in demo and "akjobd run" in demo


def test_make_test_still_installs_everything(tmp_path: Path) -> None:
    test = dry_run("test", tmp_path)
    assert '-e ".[test,docs,postgres,mysql]"' in test
    assert "chromium-driver" in test and "libmariadb-dev" in test


def test_the_demo_says_what_to_look_at() -> None:
    from example.demo.management.commands.akjob_demo import what_to_look_at

    text = what_to_look_at(3)
    for words in ("akjobd joblist", "akjobd history 3", "akjobd help", "akjobd.log"):
        assert words in text, words
    assert "Ctrl-C" in text

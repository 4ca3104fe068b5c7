"""The README opens with exactly two commands, and CI runs the second one word for word."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def opening_commands():
    readme = (ROOT / "README.md").read_text()
    opening = readme.split("\n---\n", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", opening, flags=re.S)]


def test_the_readme_opens_with_two_one_line_commands():
    commands = opening_commands()

    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    run, test = commands
    assert "seed_demo" in run and "runserver 127.0.0.1:8000" in run
    assert "pytest" in test
    assert all(command.startswith("python3.11 -m venv .venv") for command in commands)


def test_ci_runs_the_readmes_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()

    assert opening_commands()[1] in ci_lines

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


def receiver_example():
    """The README's webhook receiver, executed as a brand's developer would paste it."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Webhooks", 1)[1]
    namespace = {}
    exec(re.search(r"```python\n(.*?)```", section, flags=re.S).group(1), namespace)
    return namespace["verify_moments_signature"]


def test_the_readmes_webhook_receiver_accepts_what_the_platform_signs_and_nothing_else():
    from datetime import timedelta

    from django.utils import timezone

    from rewards.webhooks.services import signature_header
    from tenants.models import Brand

    verify = receiver_example()
    brand = Brand(
        webhook_secret="whsec_new",
        webhook_previous_secret="whsec_old",
        webhook_secret_rotated_at=timezone.now() - timedelta(hours=1),
    )
    body = b'{"id":"evt_1","type":"moment.earned","created":"2026-11-23T00:00:00Z","data":{}}'
    header = signature_header(brand, body, now=1_800_000_000)

    assert verify("whsec_new", header, body, now=1_800_000_010)
    assert verify("whsec_old", header, body, now=1_800_000_010)  # a receiver not yet switched over
    assert not verify("whsec_other", header, body, now=1_800_000_010)
    assert not verify("whsec_new", header, body.replace(b"earned", b"claimed"), now=1_800_000_010)
    assert not verify("whsec_new", header, body, now=1_800_000_000 + 301)  # a replay, too late
    assert not verify("whsec_new", header.replace("t=1800000000", "t=1800000005"), body, now=1_800_000_010)
    assert not verify("whsec_new", "", body, now=1_800_000_010)

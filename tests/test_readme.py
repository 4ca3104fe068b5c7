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


def receiver_example(number=0, **names):
    """The README's webhook receiver (the section's first Python block, or another), executed as a
    brand's developer would paste it, with `names` (its settings) defined."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    namespace = dict(names)
    exec(re.findall(r"```python\n(.*?)```", section, flags=re.S)[number], namespace)
    return namespace


def test_the_readmes_webhook_receiver_accepts_what_the_platform_signs_and_nothing_else():
    from datetime import timedelta

    from django.utils import timezone

    from rewards.webhooks.services import signature_header
    from tenants.models import Brand

    verify = receiver_example()["verify_moments_signature"]
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


def test_the_readmes_standard_webhooks_receiver_accepts_a_real_delivery_and_nothing_else(db):
    from rewards.webhooks import services as webhooks
    from tests.factories import BrandFactory
    from tests.httpserver import Recorder

    receiver = Recorder(lambda request: (200, {}))
    try:
        brand = BrandFactory(webhook_url=receiver.url)
        delivery = webhooks.emit(brand=brand, mode="test", event_type="campaign.capped", data={"campaign": "c"})
        webhooks.deliver(delivery.pk)
    finally:
        receiver.close()
    [request] = receiver.requests

    moments_event = receiver_example(1, MOMENTS_WEBHOOK_SECRET=brand.webhook_secret)["moments_event"]
    other_secret = receiver_example(1, MOMENTS_WEBHOOK_SECRET="whsec_" + "0" * 48)["moments_event"]

    assert moments_event(request["body"], request["headers"]) == delivery.payload
    assert moments_event(request["body"].replace(b'"c"', b'"d"'), request["headers"]) is None
    assert other_secret(request["body"], request["headers"]) is None

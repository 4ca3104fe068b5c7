"""The README's quickstart for a brand's developer, run word for word (with a real key and this
server's address) by bash and curl against a live server: a test key to a created and activated
test campaign, an event, a moment with its claim URL, a test webhook, and a clock advance that
expires the moment."""

import json
import re
import subprocess
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from rewards.models import Campaign, LedgerEntry, Moment
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory, CatalogItemFactory

ROOT = Path(__file__).resolve().parent.parent


def quickstart_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart for a brand's developer", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, flags=re.S).group(1)


def json_documents(text: str) -> list:
    """The JSON answers curl printed one after another (without newlines between them)."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while (index := text.find("{", index)) != -1:
        document, index = decoder.raw_decode(text, index)
        documents.append(document)
    return documents


def test_the_readmes_quickstart_runs_from_a_test_key_to_an_expired_moment(live_server, transactional_db, receiver):
    brand = BrandFactory(webhook_url=receiver.url)
    key = ApiKeyFactory(brand=brand, mode="test")
    item = CatalogItemFactory(sku="GC-10-USD", kind="digital_code", value=Decimal("10.00"))
    # as in the demo: another test campaign already counts the action, with a longer claim window
    CampaignFactory(
        brand=brand,
        mode="test",
        slug="level-15",
        action="level_reached",
        threshold=Decimal("15"),
        rewards=[item.sku],
        claim_window_days=30,
        active=True,
    )
    script = quickstart_script()
    script = re.sub(r"^BASE=.*$", f"BASE={live_server.url}/api/v1", script, count=1, flags=re.M)
    script = re.sub(r"^KEY=.*$", f"KEY={key.secret}", script, count=1, flags=re.M)

    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    assert run.returncode == 0, run.stderr
    answers = json_documents(run.stdout)
    me, campaign, activated, sample, moved, moment = answers
    assert (me["mode"], campaign["mode"], activated["status"]) == ("test", "test", "active")
    # the moment's claim URL, printed by step 4: on this server, its page now says it expired, in test mode
    claim_path = run.stderr[run.stderr.index("/claim/") :].strip()
    with pytest.raises(urllib.error.HTTPError) as closed:
        urllib.request.urlopen(live_server.url + claim_path, timeout=10)
    page = closed.value.read().decode()
    assert closed.value.code == 410 and "expired" in page and "Test mode: nothing is shipped or charged." in page
    assert sample["type"] == "moment.earned" and sample["status"] == "delivered"
    assert moved["expired_moments"] == 1
    assert moment["status"] == "expired" and moment["mode"] == "test"
    types = [json.loads(request["body"])["type"] for request in receiver.requests]
    assert types.count("moment.earned") == 3 and types[-1] == "moment.expired"  # the event's two and the sample
    assert Campaign.objects.get(slug="quickstart-level-15").mode == "test"
    assert Moment.objects.get(campaign__slug="quickstart-level-15").status == "expired"
    assert Moment.objects.get(campaign__slug="level-15").status == "earned"  # 30 days to claim it
    assert set(LedgerEntry.objects.values_list("mode", "kind")) == {("test", "charge"), ("test", "refund")}

    # and pasted again: what exists answers so (a 400 for the slug, a 409 for the move, a replay),
    # the clock moves on from where it stands, and it ends the same way
    again = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, again.stderr
    *_, moved_again, moment_again = json_documents(again.stdout)
    assert moved_again["expired_moments"] == 0 and moment_again["status"] == "expired"
    assert Moment.objects.count() == 2

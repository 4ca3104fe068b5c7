"""Tasks publish when the transaction that asked for them commits (config/tasks.py), by themselves."""

import re
from pathlib import Path

import pytest
from django.db import transaction

from tenants import services
from tests.factories import BrandFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db(transaction=True)
def test_a_task_delayed_in_a_transaction_runs_after_commit_and_never_after_a_rollback(mailoutbox):
    brand = BrandFactory()
    with transaction.atomic():
        services.membership_add(brand=brand, email="first@example.com", role="analyst", actor=None)
        assert mailoutbox == []  # the invitation waits for the commit: the worker could not see the row
    assert [mail.to for mail in mailoutbox] == [["first@example.com"]]

    with pytest.raises(RuntimeError), transaction.atomic():
        services.membership_add(brand=brand, email="second@example.com", role="analyst", actor=None)
        raise RuntimeError("rolled back")
    assert [mail.to for mail in mailoutbox] == [["first@example.com"]]


def test_no_code_hands_a_task_to_on_commit_itself():
    sources = [p for app in ("config", "tenants", "rewards", "storefront") for p in (ROOT / app).rglob("*.py")]
    hand_written = [
        str(path.relative_to(ROOT))
        for path in sources
        if re.search(r"on_commit\(\s*lambda[^\n]*\.(delay|apply_async)\(", path.read_text()) and path.name != "tasks.py"
    ]
    assert hand_written == []

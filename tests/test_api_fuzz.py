"""The API fuzzed against its own OpenAPI schema (issue 16, point 6).

schemathesis reads `/api/v1/schema/` from the app, generates requests for every operation — valid
ones and invalid ones — and sends them to the real app in-process (WSGI, on the suite's database:
SQLite locally, PostgreSQL in CI), with a live key of a brand that has campaigns, catalog items,
events, moments and webhook deliveries. Every answer must be no 5xx, with a status code and a
content type the schema declares for the operation, and a body that matches the schema.

Bounded: `EXAMPLES` cases per operation and generation mode, each within `DEADLINE`, about a minute
in all. The figures (operations, cases, failures) are printed at the end.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rewards.models import Moment, WebhookDelivery
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory, CatalogItemFactory

SCHEMA = "/api/v1/schema/"
EXAMPLES = 100
DEADLINE = timedelta(seconds=5)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def fuzzed_brand(transactional_db, receiver, settings):
    """A brand with something behind every path, made through the API where the API makes it.

    Committed (a transactional test): each request commits as in production and what it hands to
    `on_commit` (webhooks, tasks) runs. The rate limits are lifted: a fuzzer sends hundreds of
    requests a minute with one key, and a 429 would stand in for the answer it came to test (the
    throttle has tests of its own). The webhook endpoint is a receiver on 127.0.0.1."""
    settings.API_RATE_LIMITS = {scope: 1_000_000 for scope in settings.API_RATE_LIMITS}
    brand = BrandFactory(slug="fuzzed", name="Fuzzed", webhook_url=receiver.url)
    key = ApiKeyFactory(brand=brand, mode="live")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    CatalogItemFactory(kind="physical")
    code = CatalogItemFactory(kind="digital_code")
    donation = CatalogItemFactory(kind="donation", value=Decimal("1.00"))
    CampaignFactory(brand=brand, slug="workouts", threshold=Decimal("2"), rewards=[code.sku], active=True)
    CampaignFactory(brand=brand, slug="level", action="level_reached", counting="max", rewards=[code.sku], active=True)
    CampaignFactory(brand=brand, slug="ocean", action="hours_streamed", rewards=[donation.sku], active=True)
    CampaignFactory(brand=brand, slug="draft", rewards=[code.sku])
    seeds = [("workout_completed", 5), ("level_reached", 15), ("hours_streamed", 3)]
    for number, (action, quantity) in enumerate(seeds):
        body = {"event_id": f"seed-{number}", "user_id": "player-1", "action": action, "quantity": quantity}
        assert api.post("/api/v1/events", body, content_type="application/json").status_code == 201
    assert api.post("/api/v1/webhooks/test", content_type="application/json").status_code == 201
    return key


def known_path_parameters(brand) -> dict[str, list]:
    """Values of path parameters that name something of the brand, so operations on one are fuzzed
    past the 404 too (generated values almost never hit a row)."""
    return {
        "slug": ["workouts", "level", "draft"],
        "moment_id": [str(pk) for pk in Moment.objects.filter(brand=brand).values_list("pk", flat=True)],
        "user_id": ["player-1"],
        "delivery_id": [str(pk) for pk in WebhookDelivery.objects.filter(brand=brand).values_list("pk", flat=True)],
    }


def case_strategy(operation, mode: GenerationMode, known: dict[str, list]):
    """Generated cases, and for an operation with path parameters also cases on the brand's rows."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [parameter.name for parameter in operation.path_parameters]
    if not names:
        return generated
    on_rows = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names}).flatmap(
        lambda values: operation.as_strategy(generation_mode=mode, path_parameters=values)
    )
    return generated | on_rows


def test_the_api_answers_what_its_schema_says_to_generated_requests(fuzzed_brand, capsys):
    schema = schemathesis.openapi.from_wsgi(SCHEMA, get_wsgi_application())
    headers = {"Authorization": f"Bearer {fuzzed_brand.secret}"}
    known = known_path_parameters(fuzzed_brand.brand)
    operations, cases, failures = 0, 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=case_strategy(operation, mode, known))
            @settings(
                max_examples=EXAMPLES,
                deadline=DEADLINE,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            )
            def fuzz(case):
                nonlocal cases
                cases += 1
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                fuzz()
            except (Exception, FailureGroup) as failure:  # each operation's, reported together at the end
                failures.append(f"{operation.label} ({mode.value}):\n{failure}")
    with capsys.disabled():
        print(f"\nschemathesis: {operations} operations, {cases} cases, {len(failures)} failures")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)

"""Structured logs with a request id (issue 17, point 3): every request has an id (a well-formed
incoming X-Request-ID, or a new one), returned in X-Request-ID and on each of its log lines; a task
the request enqueues carries it in its message's headers and logs with it, in-process and on a real
worker; and nothing secret reaches the output along a whole flow, every logger at DEBUG.

What is read is what the console handler prints (its stream swapped for a buffer): the formatter,
the request-context filter and the masking all take part, as in production."""

import io
import json
import logging
import re
import uuid
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from celery.signals import before_task_publish
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from config.celery import app
from config.logs import ConsoleFormatter, JsonFormatter, RequestContext, accept_request_id, log_format
from rewards.models import DigitalCode, Order
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory, CatalogItemFactory, UserFactory
from tests.httpserver import Recorder
from tests.workers import PublishTo

HEX_ID = re.compile(r"[0-9a-f]{32}")


class Output:
    """What the console handlers printed, as text and as JSON lines."""

    def __init__(self, buffer: io.StringIO):
        self.buffer = buffer

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]

    def of_request(self, request_id: str) -> list[dict]:
        return [record for record in self.records() if record.get("request_id") == request_id]


def console_handlers() -> list[logging.Handler]:
    handlers = logging.getLogger().handlers + logging.getLogger("django.server").handlers
    return [handler for handler in handlers if any(isinstance(f, RequestContext) for f in handler.filters)]


@pytest.fixture(params=["json"])
def output(request):
    """The console handlers print into a buffer, in the format of the test's parameter, with every
    logger at DEBUG (the project's and everyone else's)."""
    buffer = io.StringIO()
    handlers = console_handlers()
    assert handlers, "settings.LOGGING has no console handler with the request context"
    formatter = JsonFormatter() if request.param == "json" else ConsoleFormatter()
    saved = [(handler, handler.setStream(buffer), handler.formatter) for handler in handlers]
    for handler in handlers:
        handler.setFormatter(formatter)
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.DEBUG)
    factory_boy = logging.getLogger("factory")  # the test's own data being made is not the product's output
    factory_boy.setLevel(logging.INFO)
    try:
        yield Output(buffer)
    finally:
        root.setLevel(level)
        factory_boy.setLevel(logging.NOTSET)
        for handler, stream, old_formatter in saved:
            handler.setStream(stream)
            handler.setFormatter(old_formatter)


# --- The request id -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "incoming",
    ["f2b1c7e0-3c1d-4c55-9a43-0d3c1f6f2e10", "Root=1-67891233-abcdef012345678912345678", "a", "x" * 128],
)
def test_a_well_formed_incoming_id_is_kept(incoming):
    assert accept_request_id(incoming) == incoming


@pytest.mark.parametrize(
    "incoming", [None, "", "x" * 129, "two words", 'quote"d', "new\nline", "tab\t", "ünïcode", "semi;colon", "<b>"]
)
def test_anything_else_is_replaced_by_a_new_id(incoming):
    assert HEX_ID.fullmatch(accept_request_id(incoming))


@pytest.mark.django_db
def test_an_incoming_request_id_comes_back_and_is_on_each_log_line_of_its_request(output):
    """A 404 is logged by Django after the last middleware has returned: the id is still set."""
    response = Client().get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID="lb-7f3a9c")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "lb-7f3a9c"
    lines = output.of_request("lb-7f3a9c")
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        ("WARNING", "django.request", "Not Found: /api/v1/no-such-thing/")
    ]
    assert set(lines[0]) >= {"time", "level", "logger", "message", "request_id", "status_code"}
    assert lines[0]["time"].endswith("+00:00")


@pytest.mark.django_db
def test_without_one_each_request_gets_a_new_id_and_a_bad_one_is_replaced(output):
    client = Client()
    first, second = client.get("/no-such-page"), client.get("/no-such-page")
    forged = client.get("/no-such-page", HTTP_X_REQUEST_ID='x" level=ERROR\nfake line')

    ids = [first["X-Request-ID"], second["X-Request-ID"], forged["X-Request-ID"]]
    assert all(HEX_ID.fullmatch(request_id) for request_id in ids) and len(set(ids)) == 3
    assert [len(output.of_request(request_id)) for request_id in ids] == [1, 1, 1]
    assert "fake line" not in output.text


@pytest.mark.django_db
def test_a_line_logged_between_requests_has_no_request_id(output):
    Client().get("/no-such-page", HTTP_X_REQUEST_ID="earlier-request")
    logging.getLogger("rewards").info("between requests")

    [line] = [record for record in output.records() if record["message"] == "between requests"]
    assert "request_id" not in line


def test_log_format_is_json_unless_debug_and_anything_else_is_refused():
    assert log_format("", debug=False) == "json"
    assert log_format("", debug=True) == "console"
    assert log_format("JSON", debug=True) == "json"
    assert log_format("console", debug=False) == "console"
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of json, console"):
        log_format("xml", debug=False)


def test_the_console_format_is_one_readable_line_with_the_request_id():
    record = logging.LogRecord("rewards", logging.INFO, __file__, 1, "order %s placed", ("o-1",), None)
    record.request_id = "req-9"

    line = ConsoleFormatter().format(record)

    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO rewards order o-1 placed \[request_id=req-9\]", line
    )


def test_both_formats_mask_a_claim_token_wherever_it_is():
    token = "Zm9yZ2VkLXRva2VuLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
    record.url = f"https://moments.example/claim/{token}"  # an extra field, not the message

    for formatter in (JsonFormatter(), ConsoleFormatter("%(message)s %(url)s")):
        line = formatter.format(record)
        assert token not in line and "/claim/****" in line


# --- Tasks carry the request id -------------------------------------------------------------------


def earn_by_api(key, action, *, request_id, event_id=None):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    return api.post(
        "/api/v1/events",
        {"event_id": event_id or f"evt-{uuid.uuid4().hex[:8]}", "user_id": "app-user-1", "action": action},
        format="json",
        HTTP_X_REQUEST_ID=request_id,
    )


@pytest.fixture
def earning_brand(brand_a, receiver):
    """A brand with a webhook endpoint and a campaign: an event that earns enqueues a delivery."""
    brand_a.webhook_url = receiver.url
    brand_a.save()
    item = CatalogItemFactory(kind="credit", value=Decimal("5.00"), cost=Decimal("5.00"))
    CampaignFactory(brand=brand_a, action="workout_completed", threshold=Decimal("1"), rewards=[item.sku], active=True)
    return ApiKeyFactory(brand=brand_a, mode="live")


@pytest.mark.django_db
def test_a_task_enqueued_by_a_request_carries_its_id_in_the_message_headers(
    earning_brand, django_capture_on_commit_callbacks
):
    """What goes to the broker (a queue of the test's own): the message's `request_id` header."""
    published = []

    def keep(sender=None, headers=None, **kwargs):
        published.append((sender, headers))

    queue = f"moments-test-{uuid.uuid4().hex[:8]}"
    before_task_publish.connect(keep)
    try:
        with PublishTo(queue), django_capture_on_commit_callbacks(execute=True):
            response = earn_by_api(earning_brand, "workout_completed", request_id="req-headers-1")
    finally:
        before_task_publish.disconnect(keep)
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)

    assert response.status_code == 201
    assert published and all(headers["request_id"] == "req-headers-1" for _, headers in published), published
    assert "rewards.tasks.deliver_webhook" in {name for name, _ in published}


@pytest.mark.django_db
def test_a_task_run_in_process_logs_with_the_id_of_the_request_that_enqueued_it(
    earning_brand, receiver, output, django_capture_on_commit_callbacks
):
    """On commit (here, after the request has returned), in-process: its lines carry the request's
    id, the task's id and its name."""
    with django_capture_on_commit_callbacks(execute=True):
        earn_by_api(earning_brand, "workout_completed", request_id="req-eager-1")

    assert receiver.requests  # the webhook went out, from the task
    task_lines = [line for line in output.of_request("req-eager-1") if line.get("task")]
    assert {line["task"] for line in task_lines} == {"rewards.tasks.deliver_webhook"}, output.text[-3000:]
    assert all(line["task_id"] for line in task_lines)
    messages = [line["message"] for line in task_lines]
    assert any(message.startswith("HTTP Request: POST " + receiver.url) for message in messages), messages
    assert any(re.match(r"Task rewards\.tasks\.deliver_webhook\[[0-9a-f-]+\] succeeded", m) for m in messages), messages


@pytest.mark.needs("postgresql", "rabbitmq")
def test_a_real_worker_logs_a_task_with_the_id_of_the_request_that_enqueued_it(worker, receiver):
    """Through RabbitMQ to a worker process, which logs JSON lines (LOG_FORMAT's default without
    DEBUG) to its log file."""
    brand = BrandFactory(webhook_url=receiver.url)
    item = CatalogItemFactory(kind="credit", value=Decimal("5.00"), cost=Decimal("5.00"))
    CampaignFactory(brand=brand, action="level_reached", threshold=Decimal("1"), rewards=[item.sku], active=True)
    request_id = f"req-worker-{uuid.uuid4().hex[:8]}"

    response = earn_by_api(ApiKeyFactory(brand=brand, mode="live"), "level_reached", request_id=request_id)

    assert response.status_code == 201 and response["X-Request-ID"] == request_id
    worker.wait_for(lambda: receiver.requests, what="the webhook delivery")

    def task_lines():
        lines = worker.log_path.read_text(errors="replace").splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return [record for record in records if record.get("request_id") == request_id]

    worker.wait_for(lambda: any("succeeded" in line["message"] for line in task_lines()), what="the task's last line")
    lines = task_lines()
    assert {line["task"] for line in lines} == {"rewards.tasks.deliver_webhook"}
    assert any(line["message"].startswith("HTTP Request: POST " + receiver.url) for line in lines)


# --- Nothing secret reaches the output ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("output", ["json", "console"], indirect=True)
def test_a_whole_flow_logs_no_secret(brand_a, receiver, output, capfd, django_capture_on_commit_callbacks):
    """Event → claim → order → fulfilment → webhook, for a code and for a parcel sent by an outside
    service, with every logger at DEBUG: no API key, claim token or URL, code, email or address line
    in anything printed."""
    service = Recorder(lambda request: (201, {"carrier": "DHL", "tracking_number": "JD0099887766"}))
    brand_a.webhook_url = receiver.url
    brand_a.save()
    key = ApiKeyFactory(brand=brand_a, mode="live")
    card = CatalogItemFactory(sku="CARD-FLOW", kind="digital_code")
    DigitalCode.objects.create(item=card, code="GIFT-7Q2X-K9PL-ZZ31")
    parcel = CatalogItemFactory(sku="PARCEL-FLOW", kind="physical", countries=["KR"], fulfilment_url=service.url)
    sku_of = {
        CampaignFactory(
            brand=brand_a, action="workout_completed", threshold=Decimal("1"), rewards=[item.sku], active=True
        ).slug: item.sku
        for item in (card, parcel)
    }
    email = "hidden.customer+flow@example.org"
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    address = {
        "full_name": "Quentin Zyxwv",
        "line1": "77 Unlikely-gil",
        "line2": "Apartment 9-Zeta",
        "city": "Seoul",
        "postal_code": "99871",
        "country": "KR",
    }
    browser = Client()
    browser.force_login(user)

    try:
        with django_capture_on_commit_callbacks(execute=True):
            earned = earn_by_api(key, "workout_completed", request_id="req-flow-event").json()
        claim_urls = {sku_of[moment["campaign"]]: moment["claim_url"] for moment in earned["moments"]}
        tokens = {sku: url.rsplit("/", 1)[1] for sku, url in claim_urls.items()}
        card_token, parcel_token = tokens["CARD-FLOW"], tokens["PARCEL-FLOW"]
        browser.get(f"/claim/{card_token}")
        with django_capture_on_commit_callbacks(execute=True):
            placed = browser.post(reverse("storefront:claim-confirm", args=[card_token, "CARD-FLOW"]))
        code_page = browser.get(placed["Location"]).content.decode()
        saved = browser.post(reverse("storefront:claim-item", args=[parcel_token, "PARCEL-FLOW"]), address)
        address_id = saved["Location"].split("address=")[1]
        with django_capture_on_commit_callbacks(execute=True):
            browser.post(
                reverse("storefront:claim-confirm", args=[parcel_token, "PARCEL-FLOW"]), {"address": address_id}
            )
        browser.get(f"/claim/{card_token}")  # used: a link's page again
        Client().get(f"/claim/{card_token}x")  # a forged link: Django logs the 404 with its path
    finally:
        service.close()
    printed = output.text + "".join(capfd.readouterr())

    # the flow went through
    orders = {order.item.sku: order for order in Order.objects.all()}
    assert orders["CARD-FLOW"].status == "fulfilled" and "GIFT-7Q2X-K9PL-ZZ31" in code_page
    assert orders["PARCEL-FLOW"].status == "shipped" and b"77 Unlikely-gil" in service.requests[0]["body"]
    assert {json.loads(request["body"])["type"] for request in receiver.requests} >= {
        "moment.earned",
        "order.fulfilled",
    }
    # and the output says what happened, without the secrets
    assert "HTTP Request: POST " + service.url in printed and "/claim/****" in printed
    secrets = [key.secret, *tokens.values(), *claim_urls.values(), "GIFT-7Q2X-K9PL-ZZ31", email, "hidden.customer"]
    secrets += [address[field] for field in ("full_name", "line1", "line2", "postal_code")]
    for secret in secrets:
        assert secret not in printed, [line for line in printed.splitlines() if secret in line]

"""Issue 15, point 6: every attempt also carries the Standard Webhooks headers, verified here with
the `standardwebhooks` package on real deliveries to a receiver on 127.0.0.1; each attempt's
request, answer and time are kept; a delivery has the mode of what it announces."""

import base64
import binascii
import json
import socket
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import standardwebhooks
from django.utils import timezone

from rewards.models import Order, WebhookDelivery
from rewards.orders.fulfilment import fulfil_order
from rewards.orders.services import store_checkout
from rewards.webhooks import services as webhooks
from storefront import services as storefront
from tenants import services as tenant_services
from tenants.models import new_webhook_secret
from tests.factories import CatalogItemFactory, DigitalCodeFactory, StoreItemFactory
from tests.httpserver import Recorder
from tests.storefront.conftest import earn_moment, give_credit, verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand(brand_a, receiver):
    brand_a.webhook_url = receiver.url
    brand_a.save()
    return brand_a


def emit_and_deliver(brand, event_type="campaign.capped", data=None) -> WebhookDelivery:
    delivery = webhooks.emit(brand=brand, mode="live", event_type=event_type, data=data or {})
    webhooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def moments_signature_t(request) -> int:
    return int(dict(part.split("=", 1) for part in request["headers"]["Moments-Signature"].split(","))["t"])


# --- Standard Webhooks ------------------------------------------------------------------------


def test_a_delivery_verifies_with_the_standardwebhooks_library_and_the_secret_the_console_shows(brand, receiver):
    delivery = emit_and_deliver(brand, data={"campaign": "x"})

    [request] = receiver.requests
    event = standardwebhooks.Webhook(brand.webhook_secret).verify(request["body"], request["headers"])
    assert event == delivery.payload and event["data"] == {"campaign": "x"}
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["webhook-id"] == event["id"] == f"evt_{delivery.pk.hex}"
    assert int(headers["webhook-timestamp"]) == moments_signature_t(request)
    assert "Moments-Signature" in request["headers"]  # beside, not instead
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new_webhook_secret()).verify(request["body"], request["headers"])
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(brand.webhook_secret).verify(
            request["body"].replace(b'"x"', b'"y"'), request["headers"]
        )


def test_every_attempt_is_signed_afresh_for_standard_webhooks_too(brand, receiver):
    receiver.answers.append((500, {}))
    delivery = emit_and_deliver(brand)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhooks.deliver(delivery.pk)

    verifier = standardwebhooks.Webhook(brand.webhook_secret)
    assert [verifier.verify(r["body"], r["headers"])["id"] for r in receiver.requests] == [delivery.payload["id"]] * 2


def test_during_a_rotation_standard_webhooks_receivers_verify_with_either_secret_for_a_day(brand, receiver):
    old_secret = brand.webhook_secret
    tenant_services.brand_rotate_webhook_secret(brand=brand, actor=None)

    emit_and_deliver(brand)
    brand.webhook_secret_rotated_at = timezone.now() - timedelta(days=1, seconds=1)
    brand.save()
    emit_and_deliver(brand)

    during, after = receiver.requests
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, brand.webhook_secret):
        standardwebhooks.Webhook(secret).verify(during["body"], during["headers"])
    standardwebhooks.Webhook(brand.webhook_secret).verify(after["body"], after["headers"])
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old_secret).verify(after["body"], after["headers"])


def test_a_new_secret_is_a_standard_webhooks_secret_as_it_is():
    """Its part after `whsec_` is strict base64 (hex digits are base64 characters) of 36 bytes,
    within the 24 to 64 the specification asks for."""
    secret = new_webhook_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 36
    with pytest.raises(binascii.Error):
        base64.b64decode("whsec_not base64!".removeprefix("whsec_"), validate=True)


# --- What an attempt keeps --------------------------------------------------------------------


def test_each_attempt_keeps_its_request_its_answer_and_how_long_it_took(brand, receiver):
    receiver.answers.append((500, {"error": "database down"}))
    before = timezone.now()
    delivery = emit_and_deliver(brand)

    [request] = receiver.requests
    assert delivery.last_request_url == brand.webhook_url
    sent = {name.lower(): value for name, value in request["headers"].items()}
    for name, value in delivery.last_request_headers.items():
        assert sent[name.lower()] == value  # what was kept is what went out
    assert {"Moments-Signature", "webhook-id", "webhook-timestamp", "webhook-signature"} <= set(
        delivery.last_request_headers
    )
    assert webhooks.event_body(delivery.payload) == request["body"]
    assert request["headers"]["Accept-Encoding"] == "identity"  # a body excerpt must be readable text
    assert (delivery.last_status_code, delivery.last_response_body) == (500, '{"error": "database down"}')
    assert before <= delivery.last_attempt_at <= timezone.now()
    assert 0 <= delivery.last_duration_ms < 15_000

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhooks.deliver(delivery.pk)  # the next attempt replaces the record
    delivery.refresh_from_db()
    assert (delivery.last_status_code, delivery.last_response_body, delivery.status) == (200, "{}", "delivered")


def test_the_duration_is_the_time_the_endpoint_took(brand_a):
    def answer_slowly(request):
        time.sleep(0.3)
        return 200, {}

    slow = Recorder(answer_slowly)
    try:
        brand_a.webhook_url = slow.url
        brand_a.save()

        delivery = emit_and_deliver(brand_a)

        assert 300 <= delivery.last_duration_ms < 5_000
    finally:
        slow.close()


def test_only_the_start_of_a_long_answer_is_kept_as_text(brand_a):
    # 2047 ASCII bytes, then a two-byte character cut in two by the limit; a NUL further on.
    body = b"a" * 2047 + "é".encode() + b"\x00" + b"b" * 10_000
    talkative = Recorder(lambda request: (200, body))
    try:
        brand_a.webhook_url = talkative.url
        brand_a.save()

        delivery = emit_and_deliver(brand_a)

        assert delivery.last_response_body == "a" * 2047  # the half character is dropped, not garbled
        assert webhooks.RESPONSE_BODY_KEPT == 2048
    finally:
        talkative.close()


def test_a_nul_in_an_answer_is_kept_as_a_replacement_character(brand_a):
    answer = Recorder(lambda request: (200, b"ok\x00done"))
    try:
        brand_a.webhook_url = answer.url
        brand_a.save()

        delivery = emit_and_deliver(brand_a)

        assert delivery.last_response_body == "ok\ufffddone"  # PostgreSQL's text cannot hold NUL
    finally:
        answer.close()


@pytest.fixture
def stalling_endpoint():
    """Answers 200 with the first 7 of the 100 bytes it announces, then sends nothing more."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    done = threading.Event()

    def serve():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        done.wait(30)
        connection.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    done.set()
    listener.close()


def test_a_body_that_stops_coming_keeps_what_arrived_and_the_status_stands(brand_a, stalling_endpoint, monkeypatch):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 1)  # the read waits a second, not 15
    brand_a.webhook_url = stalling_endpoint
    brand_a.save()

    delivery = emit_and_deliver(brand_a)

    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("delivered", 200, "")
    assert delivery.last_response_body == "partial"


@pytest.fixture
def trickling_endpoint():
    """Answers 200, then its body a byte every 0.2 s for 20 s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        try:
            for _ in range(100):
                connection.sendall(b"x")
                time.sleep(0.2)
        except OSError:
            pass  # the client stopped reading and hung up
        connection.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


def test_a_body_that_trickles_is_read_only_until_the_attempts_deadline(brand_a, trickling_endpoint, monkeypatch):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 1)
    brand_a.webhook_url = trickling_endpoint
    brand_a.save()

    delivery = emit_and_deliver(brand_a)

    assert (delivery.status, delivery.last_status_code) == ("delivered", 200)
    assert 0 < len(delivery.last_response_body) < 100 and set(delivery.last_response_body) == {"x"}
    assert delivery.last_duration_ms < 3_000  # not the 20 s the whole body would take


def test_an_attempt_that_could_not_connect_keeps_its_request_and_a_fixed_phrase(brand_a):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    brand_a.webhook_url = f"http://127.0.0.1:{closed}/hooks"
    brand_a.save()

    delivery = emit_and_deliver(brand_a)

    assert (delivery.last_status_code, delivery.last_response_body) == (None, "")
    assert delivery.last_error == "could not connect" and delivery.last_attempt_at is not None
    assert delivery.last_request_url == brand_a.webhook_url and "webhook-signature" in delivery.last_request_headers


# --- Modes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["live", "test"])
def test_moment_and_order_events_have_the_moments_mode_in_the_row_and_the_envelope(brand, mode):
    item = CatalogItemFactory(kind="credit", value=Decimal("5.00"), cost=Decimal("5.00"))
    moment = earn_moment(brand, item, mode=mode)
    order = storefront.claim_confirm(user=verified(), moment=moment, item=item, address=None)
    fulfil_order(str(order.pk))  # on_commit never fires in a test's transaction

    deliveries = {d.event_type: d for d in WebhookDelivery.objects.filter(brand=brand)}
    assert set(deliveries) == {"moment.earned", "moment.claimed", "order.fulfilled"}
    for delivery in deliveries.values():
        assert delivery.mode == mode and delivery.payload["mode"] == mode
        assert delivery.payload["sample"] is False
    assert deliveries["order.fulfilled"].payload["data"]["order"] == str(order.pk)


def test_a_store_orders_event_is_live(brand):
    user = verified()
    give_credit(user, brand, "20.00")
    store_item = StoreItemFactory(brand=brand, item__kind="digital_code", price=Decimal("20.00"))
    DigitalCodeFactory(item=store_item.item)
    WebhookDelivery.objects.all().delete()  # the credit's own moment and order

    order = store_checkout(user=user, store_item=store_item, mode="live")
    fulfil_order(str(order.pk))

    assert Order.objects.get(pk=order.pk).status == "fulfilled"
    [delivery] = WebhookDelivery.objects.filter(brand=brand)
    assert (delivery.event_type, delivery.mode, delivery.payload["mode"]) == ("order.fulfilled", "live", "live")


def test_the_envelope_is_additive_and_what_was_received_is_what_is_kept(brand, receiver):
    delivery = emit_and_deliver(brand, data={"campaign": "x"})

    event = json.loads(receiver.requests[0]["body"])
    assert set(event) == {"id", "type", "created", "mode", "sample", "data"}
    assert event == delivery.payload

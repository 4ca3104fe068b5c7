"""Security review, issue 10, point 3 (SSRF), when a webhook is sent: the host is resolved once,
refused if any address is not public (loopback only with WEBHOOK_ALLOW_LOOPBACK_HTTP), the post goes
to the vetted address, and the console shows a status code or a fixed phrase, never an exception.

A guard (an audit hook, active in this module's tests) records every socket connect and name lookup
the process makes and stops any connect outside 127.0.0.0/8 and any DNS query: these tests send no
traffic off this machine, even against code that would.
"""

import ipaddress
import socket
import ssl
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from rewards.models import WebhookDelivery
from rewards.webhooks import services as webhooks
from tenants.models import Brand
from tests.httpserver import Recorder

pytestmark = pytest.mark.django_db

_GUARD = {"on": False, "connects": [], "lookups": []}


def _loopback(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == "localhost"
    return ip.is_loopback or (ip.version == 6 and bool(ip.ipv4_mapped) and ip.ipv4_mapped.is_loopback)


def _audit(event, args):
    if not _GUARD["on"]:
        return
    if event == "socket.connect" and isinstance(args[1], tuple):
        host, port = args[1][0], args[1][1]
        _GUARD["connects"].append((host, port))
        if not _loopback(host):
            raise ConnectionRefusedError(f"test guard: no traffic to {host} (outside 127.0.0.0/8)")
    elif event == "socket.getaddrinfo":
        host = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        _GUARD["lookups"].append(host)
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            if host != "localhost":  # /etc/hosts; any other name would be a DNS query
                raise socket.gaierror(f"test guard: no DNS lookup of {host}") from None


sys.addaudithook(_audit)  # hooks cannot be removed: it stays inert outside the `network` fixture


class Network:
    @property
    def connects(self) -> list[tuple[str, int]]:
        return list(_GUARD["connects"])

    def outside_loopback(self) -> list[tuple[str, int]]:
        return [(host, port) for host, port in _GUARD["connects"] if not _loopback(host)]


@pytest.fixture
def network():
    _GUARD.update(on=True, connects=[], lookups=[])
    try:
        yield Network()
    finally:
        _GUARD["on"] = False


@pytest.fixture
def receiver():
    server = Recorder(lambda request: (200, {}))
    yield server
    server.close()


def port_of(server) -> int:
    return server.server.server_address[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pending_delivery(brand, url) -> WebhookDelivery:
    """A delivery due now for a brand whose URL was set in the database, past the form's check."""
    Brand.objects.filter(pk=brand.pk).update(webhook_url=url)
    return WebhookDelivery.objects.create(
        brand=brand,
        mode="live",
        event_type="campaign.capped",
        payload={"id": "evt_ssrf", "data": {}},
        next_attempt_at=timezone.now(),
    )


def assert_refused(delivery, before):
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error == "could not connect"
    assert before + timedelta(seconds=5) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=5)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:{port}/hooks", "https://localhost:{port}/hooks", "https://127.0.0.1:{port}/hooks"]
)
def test_with_loopback_off_a_loopback_url_set_behind_the_forms_back_is_never_contacted(
    url, brand_a, receiver, network, settings
):
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = False
    delivery = pending_delivery(brand_a, url.format(port=port_of(receiver)))
    before = timezone.now()

    webhooks.deliver(delivery.pk)

    assert receiver.requests == []
    assert [port for _host, port in network.connects if port == port_of(receiver)] == []  # not even a handshake
    assert_refused(delivery, before)


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hooks",
        "https://192.168.1.20/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[::ffff:10.0.0.1]/hooks",
        "https://[::ffff:169.254.169.254]/hooks",
        "https://100.64.0.1/hooks",
        "https://0.0.0.0:{port}/hooks",  # on Linux that would reach this very machine
        "http://0.0.0.0:{port}/hooks",
        "https://[fe80::1]/hooks",
        "https://224.0.0.1/hooks",
        "http://93.184.215.14/hooks",  # public, but plain http
    ],
)
def test_private_metadata_and_plain_http_addresses_are_refused_before_connecting_even_with_loopback_on(
    url, brand_a, receiver, network, settings
):
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = True
    delivery = pending_delivery(brand_a, url.format(port=port_of(receiver)))
    before = timezone.now()

    webhooks.deliver(delivery.pk)

    assert network.connects == []  # refused before any connect, not after one failed
    assert receiver.requests == []
    assert_refused(delivery, before)


def test_the_post_goes_to_the_vetted_address_under_the_urls_host_name(brand_a, receiver, network, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = True
    port = port_of(receiver)
    delivery = pending_delivery(brand_a, f"http://localhost:{port}/hooks")

    webhooks.deliver(delivery.pk)

    [request] = receiver.requests
    assert request["headers"]["Host"] == f"localhost:{port}" and request["path"] == "/hooks"
    assert network.connects == [("127.0.0.1", port)]  # the address the name resolved to, once
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("delivered", 200, "")


def test_a_redirect_is_not_followed(brand_a, receiver, network, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = True
    redirecting = Recorder(lambda request: (307, {}, {"Location": receiver.url}))
    try:
        delivery = pending_delivery(brand_a, redirecting.url)

        webhooks.deliver(delivery.pk)

        assert len(redirecting.requests) == 1 and receiver.requests == []
        delivery.refresh_from_db()
        assert (delivery.status, delivery.last_status_code) == ("pending", 307)
    finally:
        redirecting.close()


@pytest.fixture
def localhost_certificate(tmp_path):
    """A self-signed certificate for the name `localhost` only (not for 127.0.0.1)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    except FileNotFoundError:
        pytest.skip("needs the openssl command")
    return key, cert


def test_tls_names_and_verifies_the_urls_host_while_connecting_to_the_vetted_address(
    localhost_certificate, network, settings
):
    from tenants import webhook_endpoint

    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = True
    key, cert = localhost_certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server_names = []
    server_tls.sni_callback = lambda tls_socket, name, context: server_names.append(name)
    client_tls = ssl.create_default_context(cafile=str(cert))
    server = Recorder(lambda request: (204, {}), ssl_context=server_tls)
    port = port_of(server)
    try:
        endpoint = webhook_endpoint.resolve(f"https://localhost:{port}/hooks")
        answer = webhook_endpoint.post(
            endpoint, content=b"{}", headers={}, timeout=5, body_bytes=2048, verify=client_tls
        )

        assert answer.status_code == 204 and endpoint.addresses == ("127.0.0.1",)
        assert server_names == ["localhost"] and server.requests[0]["headers"]["Host"] == f"localhost:{port}"
        assert network.connects == [("127.0.0.1", port)]
        # The certificate is checked against the URL's host, not the address connected to.
        with pytest.raises(httpx.ConnectError, match="certificate"):
            webhook_endpoint.post(
                webhook_endpoint.resolve(f"https://127.0.0.1:{port}/hooks"),
                content=b"{}",
                headers={},
                timeout=5,
                body_bytes=2048,
                verify=client_tls,
            )
        assert len(server.requests) == 1
    finally:
        server.close()


def test_the_delivery_page_shows_could_not_connect_and_never_the_exception(brand_a, owner_a, client, network, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = True
    delivery = pending_delivery(brand_a, f"http://127.0.0.1:{closed_port()}/hooks")
    webhooks.deliver(delivery.pk)  # the port is closed: the connection is refused
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.last_error == "could not connect"
    # A row written before this fix kept the exception's text.
    legacy = WebhookDelivery.objects.create(
        brand=brand_a,
        mode="live",
        event_type="campaign.capped",
        payload={"id": "evt_legacy"},
        attempts=1,
        last_error="ConnectError: [Errno 111] Connection refused",
    )
    client.force_login(owner_a)

    for shown in (delivery, legacy):
        page = client.get(reverse("admin:rewards_webhookdelivery_change", args=[shown.pk])).content.decode()

        assert "could not connect" in page
        assert "refused" not in page.lower() and "Errno" not in page and "ConnectError" not in page

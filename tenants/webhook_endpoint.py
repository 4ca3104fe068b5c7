"""A brand's webhook endpoint: which URLs Moments posts to, and how it reaches one safely.

Brand staff type the URL, so it must not let them aim the platform at its own network (SSRF):
only `https` to public addresses. It is checked when the brand is saved (`check_url`, without
DNS: the answer could change later anyway) and again at every send: `resolve` looks the host up
once and refuses it if any address it gets is not public, and `post` connects to one of those
vetted addresses (Host header and TLS server name still the URL's host, so the certificate is
checked against it), never resolving again and never following a redirect, so a DNS answer
swapped after the check cannot redirect the request.

`WEBHOOK_ALLOW_LOOPBACK_HTTP` (tests, local demos) also allows http and https to loopback, never
to other private ranges.
"""

import codecs
import functools
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Cloud metadata services; not public anyway (link-local, unique local), named so nobody "fixes" that.
METADATA_ADDRESSES = frozenset(map(ipaddress.ip_address, ["169.254.169.254", "fd00:ec2::254"]))
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """Moments will not post to this URL (its scheme, its host or an address it resolves to)."""


@dataclass(frozen=True)
class Endpoint:
    url: httpx.URL  # as the brand wrote it
    addresses: tuple[str, ...]  # every address its host resolved to, each vetted


@dataclass(frozen=True)
class Answer:
    status_code: int
    body_start: str  # the first bytes of the answer's body, as text


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally reachable unicast, and so is any IPv4 address an IPv6 one carries (mapped, 6to4,
    Teredo, NAT64)."""
    for address in (ip, *_embedded_ipv4(ip)):
        if address in METADATA_ADDRESSES or not address.is_global:  # is_global: not 100.64/10 either
            return False
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
            or (address.version == 6 and address.is_site_local)
        ):
            return False
    return True


def is_loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


def check_url(url: str) -> None:
    """When the brand is saved: raise ValidationError unless Moments may post to this URL.
    Host names are not looked up here (`resolve` does, at every send), except the loopback names."""
    try:
        parsed = _parse(url)
    except Refused:
        parsed = None
    host = parsed.raw_host.decode("ascii").rstrip(".").lower() if parsed else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = ipaddress.ip_address("127.0.0.1") if host == "localhost" or host.endswith(".localhost") else None
    if parsed is None or (parsed.scheme == "http" and not (ip and is_loopback(ip))):
        raise ValidationError(_("Use an https:// URL."), code="webhook_scheme")
    if ip is not None and not _allowed(ip, parsed.scheme):
        raise ValidationError(
            _("This address is not on the public internet: Moments posts only to public https endpoints."),
            code="webhook_address",
        )


def resolve(url: str) -> Endpoint:
    """At send time: look the host up once; Refused unless every address it has may be posted to."""
    parsed = _parse(url)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"cannot resolve {host}: {exc}") from None
    addresses = []
    for family, _type, _proto, _name, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if not _allowed(ip, parsed.scheme):
            raise Refused(f"{host} resolves to {ip}, which is not allowed")
        if str(ip) not in addresses:
            addresses.append(str(ip))
    if not addresses:
        raise Refused(f"{host} has no address")
    return Endpoint(url=parsed, addresses=tuple(addresses))


# Each address may take the whole connect timeout: a few at most, so one attempt ends well within
# the task's time limit.
MAX_ADDRESSES_TRIED = 3


def post(endpoint: Endpoint, *, content: bytes, headers: dict, timeout: float, body_bytes: int, verify=None) -> Answer:
    """POST to a vetted address of the endpoint (the next one if it cannot connect) and return its
    status code with the first `body_bytes` of its body. `verify`: an SSLContext (tests), else the
    usual CAs."""
    url = endpoint.url
    # Identity: an excerpt of a compressed body would be unreadable, and inflating one unbounded.
    headers = {**headers, "Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity"}
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    deadline = time.monotonic() + timeout
    with httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, verify=verify or _default_tls()
    ) as client:
        addresses = endpoint.addresses[:MAX_ADDRESSES_TRIED]
        for index, address in enumerate(addresses):
            request = client.build_request(
                "POST", url.copy_with(host=address), content=content, headers=headers, extensions=extensions
            )
            try:
                response = client.send(request, stream=True, follow_redirects=False)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if index == len(addresses) - 1:
                    raise
                continue
            try:
                return Answer(response.status_code, _body_start(response, body_bytes, deadline))
            finally:
                response.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _body_start(response: httpx.Response, size: int, deadline: float) -> str:
    """Up to `size` bytes of the body as text. The status code is the answer: a body that stops
    coming (a read timeout, a reset) or trickles past the deadline keeps what arrived."""
    received = bytearray()
    try:
        for chunk in response.iter_raw():
            received += chunk
            if len(received) >= size or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass
    try:
        charset = codecs.lookup(response.charset_encoding or "utf-8").name
    except LookupError:
        charset = "utf-8"
    # Not final: a character cut in two at the end is dropped rather than shown as garbage.
    text = codecs.getincrementaldecoder(charset)(errors="replace").decode(bytes(received[:size]))
    return text.replace("\x00", "\ufffd")  # PostgreSQL's text holds no NUL


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise Refused("not a URL") from None
    if not parsed.host or parsed.scheme not in ("https", "http"):
        raise Refused("not an http(s) URL")
    if parsed.scheme == "http" and not settings.WEBHOOK_ALLOW_LOOPBACK_HTTP:
        raise Refused("http:// is not allowed")
    return parsed


def _allowed(ip, scheme: str) -> bool:
    if is_loopback(ip):
        return settings.WEBHOOK_ALLOW_LOOPBACK_HTTP
    return scheme == "https" and is_public(ip)


def _embedded_ipv4(ip) -> list[ipaddress.IPv4Address]:
    if ip.version == 4:
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """One context for every send: loading the CA bundle per request would cost more than the post.
    httpx's default: certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR when the operator sets one."""
    return httpx.create_ssl_context()

"""The client's address, as every limit and failure log counts it: allauth's reading (REMOTE_ADDR, or
the address TRUSTED_PROXY_COUNT proxies in front put in X-Forwarded-For), so the sign-in limits, the
claim-link limit, the API's and the logs all name the same client."""

from allauth.account.adapter import get_adapter


def client_address(request) -> str:
    if request is None:
        return "-"
    try:
        return get_adapter(request).get_client_ip(request)
    except Exception:  # a malformed X-Forwarded-For must not turn a failure log into a 500
        return request.META.get("REMOTE_ADDR") or "-"

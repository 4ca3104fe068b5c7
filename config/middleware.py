"""Middleware of the project's own: wiring, importing no app."""

from django.core.exceptions import SuspiciousOperation


class RejectNulBytes:
    """A NUL in a query-string key or value is a 400 before any view or query sees it: no stored
    value can hold one (PostgreSQL refuses NUL in text), so a filter, a search or a cursor carrying
    one would otherwise reach the database and fail there as a 500. Path parameters are refused by
    their converters (config/converters.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            raise SuspiciousOperation("A NUL character in the query string.")
        return self.get_response(request)


class NoStoreWithCredentials:
    """An answer to a request that carried an API key (`Authorization`) is that key's own: claim
    URLs are bearer links, and no shared or browser cache may keep one (`Cache-Control: no-store`).
    Pages that show a code, an address or a key say so themselves (`never_cache`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "HTTP_AUTHORIZATION" in request.META and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response

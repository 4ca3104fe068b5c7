"""Middleware of the project's own: wiring, importing no app."""

from django.core.exceptions import SuspiciousOperation
from django.core.signals import request_finished, request_started

from config.logs import REQUEST_ID_HEADER, accept_request_id, request_id_var


class RequestIdMiddleware:
    """Every request has an id: a well-formed incoming `X-Request-ID` (a load balancer's or a
    client's: bounded, safe characters; config/logs.py) or a new one. It is the request's
    `request_id`, the response's `X-Request-ID`, on each of the request's log lines and in the
    headers of each task the request enqueues (config/tasks.py).

    It stays set until the request is finished (Django's `request_finished`, when the response is
    closed), not only while the middleware runs: Django logs a 4xx or 5xx answer ("Not Found: …")
    after the last middleware has returned, and a streamed answer is written after that."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = accept_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request_id_var.set(request.request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def _forget_request_id(**kwargs):
    """Between requests a thread has no request id (a reused thread must not lend the last one)."""
    request_id_var.set(None)


request_started.connect(_forget_request_id, dispatch_uid="config.middleware.forget_request_id.started")
request_finished.connect(_forget_request_id, dispatch_uid="config.middleware.forget_request_id.finished")


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

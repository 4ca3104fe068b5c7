"""One error envelope for the whole API: `{"error": {"type", "code", "message", "field"?}}`.

DRF views answer through `api_exception_handler`; what happens before or outside a DRF view under
/api/ (an unknown path, a body too big, a crash) answers through the Django handlers below, with
the same envelope.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.fields import get_error_detail
from rest_framework.views import exception_handler as drf_exception_handler

from config.api import BodyTooLarge
from config.clients import client_address

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain that refuses a request. Services raise subclasses, which say the status
    and code of DESIGN.md §5 they answer with; `api_exception_handler` alone turns them into the
    envelope, so no service writes an HTTP status or an envelope itself."""

    status = 400
    code = "invalid"


class _DomainRefusal(exceptions.APIException):
    def __init__(self, error: DomainError):
        self.status_code = error.status
        super().__init__(detail=str(error), code=error.code)


class Busy(exceptions.APIException):
    """A row this request needed stayed locked past the lock timeout: try again in a moment."""

    status_code = 503
    default_code = "busy"
    wait = 1  # DRF sends it as Retry-After
    default_detail = "Too busy to take this right now; try again in a second."


def lock_timed_out(exc: BaseException) -> bool:
    """PostgreSQL's `lock_not_available` (55P03): a lock waited for longer than lock_timeout."""
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) == "55P03"


class DatabaseUnavailable(exceptions.APIException):
    """The database could not be reached, or went away mid-request (restarting, failing over)."""

    status_code = 503
    default_code = "unavailable"
    wait = 5
    default_detail = "The service cannot reach its database right now; try again in a few seconds."


# PostgreSQL's connection exceptions (class 08) and its shutting-down or starting-up answers (57P01-03).
CONNECTION_LOST_STATES = ("57P01", "57P02", "57P03")


def database_unreachable(exc: BaseException) -> bool:
    """A PostgreSQL connection that failed or broke (psycopg raises those with no SQLSTATE, or one of
    class 08 or 57P0x), not a statement's error: nothing of the request was kept."""
    cause = exc.__cause__
    if not isinstance(exc, (OperationalError, InterfaceError)) or not type(cause).__module__.startswith("psycopg"):
        return False
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in CONNECTION_LOST_STATES


API_PREFIX = "/api/"

ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}


# What an operation may answer besides its own responses (DESIGN.md §5), declared in the schema by
# `declare_error_responses`; each with the envelope.
ERROR_RESPONSES = {
    400: "Bad input: the body, a parameter, or the request itself (`bad_request`).",
    401: "No key, or a malformed, unknown or revoked one.",
    403: "Not allowed: a suspended brand, or a test-mode operation with a live key.",
    404: "Nothing of the key's brand and mode by that id or slug, or a cursor that is not one.",
    413: "The body is larger than 1 MB (`body_too_large`).",
    415: "The body is not JSON.",
    429: "Throttled (`throttled`), with `Retry-After`.",
    503: (
        "A row it needed stayed locked (`busy`, `Retry-After: 1`), or the database could not be reached "
        "(`unavailable`, `Retry-After: 5`): nothing was kept, send it again."
    ),
}


def error_type(status: int) -> str:
    if status >= 500:
        return "api_error"
    return ERROR_TYPES.get(status, "invalid_request_error")


def error_body(*, status: int, code: str, message: str, field: str | None = None) -> dict:
    error = {"type": error_type(status), "code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def first_error(detail, path=()):
    """The first (field path, ErrorDetail) in DRF's nested error detail; valid items are empty."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            found = first_error(value, path if key == "non_field_errors" else (*path, str(key)))
            if found:
                return found
        return None
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            found = first_error(item, (*path, str(index)) if isinstance(item, (dict, list)) else path)
            if found:
                return found
        return None
    return (".".join(path) or None, detail)


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):  # Django refused to read the body at all
        exc = BodyTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):  # a service's rule, with its field and code
        exc = exceptions.ValidationError(get_error_detail(exc))
    elif isinstance(exc, DomainError):
        exc = _DomainRefusal(exc)
    elif lock_timed_out(exc):
        exc = Busy()
    elif database_unreachable(exc):
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    field, detail = first_error(exc.detail) or (None, exc.default_detail)
    code = getattr(detail, "code", None) or exc.default_code
    response.data = error_body(status=response.status_code, code=code, message=str(detail), field=field)
    return response


def _api_error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status=status, code=code, message=message), status=status)


def bad_request(request, exception):
    if request.path.startswith(API_PREFIX):
        if isinstance(exception, RequestDataTooBig):
            return _api_error_response(413, "body_too_large", "The request body is larger than 1 MB.")
        return _api_error_response(400, "bad_request", "The request could not be read.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if request.path.startswith(API_PREFIX):
        return _api_error_response(403, "permission_denied", "You may not do this.")
    return defaults.permission_denied(request, exception)


@csrf_exempt  # keys, not cookies, authenticate the API: a POST to an unknown path is a 404, not CSRF's page
def api_not_found(request):
    return _api_error_response(404, "not_found", "No such resource.")


def page_not_found(request, exception):
    if request.path.startswith(API_PREFIX):
        return _api_error_response(404, "not_found", "No such resource.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return _api_error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request)


def too_many_requests(request, exception=None):
    """A 429 from django-allauth's rate limits (it looks this handler up in the URLconf) or ours."""
    if request.path.startswith(API_PREFIX):
        return _api_error_response(429, "throttled", "Too many requests; slow down and try again.")
    # Named by its view, not its path (a claim link's path is its secret).
    view = request.resolver_match.view_name if request.resolver_match else "-"
    logger.warning("too many requests: view=%s client=%s", view, client_address(request))
    return render(request, "429.html", status=429)


def declare_error_responses(result, generator, request, public):
    """A drf-spectacular postprocessing hook: every operation declares the errors it may answer, each
    with the envelope, so the schema covers every status the API sends (the fuzzer checks that:
    tests/test_api_fuzz.py). 404 where a path names a row or a list takes a cursor; 413 and 415
    where there is a body; 503 where a request may write."""
    types = sorted({*ERROR_TYPES.values(), error_type(400), error_type(500)})
    result["components"].setdefault("schemas", {})["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "code", "message"],
                "properties": {
                    "type": {"type": "string", "enum": types},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string", "description": "The field at fault, dotted (`events.3.quantity`)."},
                },
            }
        },
    }
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result["paths"].items():
        for method, operation in operations.items():
            statuses = {400, 401, 403, 429}
            if "{" in path or any(parameter["name"] == "cursor" for parameter in operation.get("parameters", [])):
                statuses.add(404)
            if "requestBody" in operation:
                statuses |= {413, 415}
            if method != "get":
                statuses.add(503)
            responses = operation["responses"]
            for status in sorted(statuses):
                responses.setdefault(str(status), {"description": ERROR_RESPONSES[status]})
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = envelope
    return result

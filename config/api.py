"""What every endpoint of the API shares: body limit, strict input, pagination, throttling."""

import json
import logging
import math
import time
from decimal import Decimal

from django.conf import settings
from django_countries import countries
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from config.cache import count_in_window
from config.clients import client_address

logger = logging.getLogger(__name__)


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than 1 MB."
    default_code = "body_too_large"


class StrictJSONParser(JSONParser):
    """JSON that every store can hold. The 1 MB limit is Django's (DATA_UPLOAD_MAX_MEMORY_SIZE),
    applied when DRF reads the body; config.errors turns it into a 413."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(
                stream.read().decode(encoding), parse_constant=_reject_constant, parse_float=_finite_float
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise exceptions.ParseError("The body is nested too deeply.") from exc


def _reject_constant(name):
    # Python reads NaN and Infinity, JSON (and PostgreSQL's jsonb) do not.
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text):
    value = float(text)
    if math.isinf(value):  # 1e999: too large for any number column or jsonb
        raise ValueError(f"{text} is too large a number")
    return value


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField would take 123 and make it "123"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def storable_json(value) -> None:
    """Refuse what PostgreSQL's jsonb cannot hold: NUL characters and lone surrogates."""
    if isinstance(value, dict):
        for key, item in value.items():
            storable_json(key)
            storable_json(item)
    elif isinstance(value, list):
        for item in value:
            storable_json(item)
    elif isinstance(value, str):
        if "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value):
            raise serializers.ValidationError("Text may not hold NUL characters or lone surrogates.", code="invalid")


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know or that are read-only: a typo is an error, not a default."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [serializers.ErrorDetail("Expected a JSON object.", code="invalid")]}
            )
        writable = {name for name, item in self.fields.items() if not item.read_only}
        refused = {
            name: [
                serializers.ErrorDetail(
                    "This field is read-only." if name in self.fields else "Unknown field.",
                    code="read_only" if name in self.fields else "unknown_field",
                )
            ]
            for name in sorted(set(data) - writable)
        }
        if refused:
            raise serializers.ValidationError(refused)
        return super().to_internal_value(data)


def json_number(value: Decimal):
    """A quantity as a JSON number: 30 rather than "30.000", 2.5 rather than "2.500"."""
    value = Decimal(value).normalize()
    return int(value) if value == value.to_integral_value() else float(value)


@extend_schema_field(OpenApiTypes.NUMBER)  # the schema says what it sends: a number, not a decimal string
class NumberField(serializers.DecimalField):
    """A decimal shown as a JSON number (30, 2.5), not as a string."""

    def to_representation(self, value):
        return json_number(value)


class StrictNumberField(NumberField):
    """A JSON number only, in as well as out: DRF's DecimalField would also take the strings "30"
    and "1e5" (an event's quantity once came as "1e5" and did minutes of work)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | Decimal):
            self.fail("invalid")
        return super().to_internal_value(data)


class ResultsPagination(pagination.CursorPagination):
    """Every list answers {"results": [...], "next": <url or null>} (DESIGN.md §5)."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def get_ordering(self, request, queryset, view):
        # Each list view names its own stable order (`ordering`); the cursor follows its first field.
        return tuple(view.ordering)

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
            },
        }


class ApiKeyRateThrottle(BaseThrottle):
    """Requests per API key in fixed one-minute windows, counted in the shared cache (Redis).

    One round trip per request (config/cache.py); views name their bucket with `throttle_scope`.
    """

    window_seconds = 60

    def allow_request(self, request, view):
        if request.auth is None:  # no API key: authentication answers first
            return True
        scope = getattr(view, "throttle_scope", "default")
        limit = settings.API_RATE_LIMITS[scope]
        now = time.time()
        window = int(now // self.window_seconds)
        key = f"throttle:{scope}:{request.auth.pk}:{window}"
        count = count_in_window(key, timeout=self.window_seconds + 1)
        self.seconds_left = self.window_seconds - (now % self.window_seconds)
        if count == limit + 1:  # logged once a window, not for every refused request
            logger.warning(
                "API rate limit reached: key_prefix=%s scope=%s client=%s",
                request.auth.prefix,
                scope,
                client_address(request),
            )
        return count <= limit

    def wait(self):
        return self.seconds_left


def country_code(value: str) -> str:
    """A validator of ISO 3166 alpha-2 codes, any case in, upper case out."""
    code = value.upper()
    if code not in countries:
        raise serializers.ValidationError(f"'{value}' is not an ISO 3166 alpha-2 country code.", code="invalid_choice")
    return code

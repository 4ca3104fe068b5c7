"""API authentication: `Authorization: Bearer mk_live_…|mk_test_…` identifies a brand and a mode."""

import logging
import re
from dataclasses import dataclass

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from config.clients import client_address
from tenants import selectors, services
from tenants.models import ApiKey
from tenants.scoping import enter_brand_scope

logger = logging.getLogger(__name__)

API_KEY_FORMAT = re.compile(r"^mk_(live|test)_[A-Za-z0-9]{40}$")


@dataclass(frozen=True)
class ApiClient:
    """The caller of an API request: a brand's backend holding one of its keys."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self):
        return self.api_key.pk


class ApiKeyAuthentication(BaseAuthentication):
    """Sets `request.brand` and `request.api_mode` from the key; refuses a missing, bad or revoked key."""

    def authenticate(self, request):
        # Read as text: WSGI gives headers as latin-1 strings, and any character must give a 401.
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            raise exceptions.NotAuthenticated(
                "No API key: send it as 'Authorization: Bearer mk_live_…' or 'Bearer mk_test_…'.",
                code="missing_api_key",
            )
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Bearer <API key>'.", code="invalid_api_key"
            )
        secret = secret.strip()
        if not API_KEY_FORMAT.fullmatch(secret):
            raise exceptions.AuthenticationFailed(
                "That is not a Moments API key: keys look like mk_live_… or mk_test_….", code="invalid_api_key"
            )
        api_key = selectors.api_key_for_secret(secret)
        if api_key is None:
            # A key's prefix is no secret (the console and /me show it); the rest of what was sent is never logged.
            logger.warning("API key refused, unknown: key_prefix=%s client=%s", secret[:16], client_address(request))
            raise exceptions.AuthenticationFailed("Unknown API key.", code="invalid_api_key")
        if api_key.is_revoked:
            logger.warning("API key refused, revoked: key_prefix=%s client=%s", api_key.prefix, client_address(request))
            raise exceptions.AuthenticationFailed("This API key has been revoked.", code="api_key_revoked")
        # The rest of the request reads this brand's rows only (tenants/scoping.py).
        enter_brand_scope(api_key.brand)
        services.api_key_note_use(api_key=api_key, now=timezone.now())
        request.brand = api_key.brand
        request.api_mode = api_key.mode
        # Also on Django's request, which DRF's copies of this one (`clone_request`, as OPTIONS
        # makes to check each method's permissions) read through: without it they have no brand.
        request._request.brand = api_key.brand
        request._request.api_mode = api_key.mode
        return ApiClient(api_key=api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class HasActiveBrand(BasePermission):
    """An authenticated key of a brand that is not suspended."""

    message = "This brand is suspended; contact the Moments operator."
    code = "brand_suspended"

    def has_permission(self, request, view):
        if not isinstance(request.user, ApiClient):
            raise exceptions.NotAuthenticated()
        return request.brand.is_active


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A brand's secret API key, mk_live_… or mk_test_….",
        }

"""Bad values in URL paths (DESIGN.md §5: "Never a 500 for bad input"), walked from the registry
rather than listed by hand, so a new endpoint or page is covered the day it is added:

- every operation of the OpenAPI schema, with a valid live key, gets a NUL, an over-long and a
  non-UTF-8 value in each path parameter, with every method its path declares, and an OPTIONS;
- every other page of the URL resolver with path parameters (storefront, accounts; the admin has
  its own tests) gets the same values, signed in as an end user.

An identifier that cannot exist (a NUL, longer than any stored one) is "not found": a 404 in the
envelope. Nothing answers 5xx.
"""

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from rewards.moments.claims import claim_token
from tests.factories import ApiKeyFactory, CatalogItemFactory, StoreItemFactory
from tests.storefront.conftest import earn_moment, verified

pytestmark = [pytest.mark.django_db, pytest.mark.needs("postgresql")]  # SQLite takes NUL in text

NUL = "a%00b"
LONG = "x" * 10_000
NOT_UTF8 = "%FF%FE"
BAD_VALUES = {"nul": NUL, "long": LONG, "not_utf8": NOT_UTF8}
CANNOT_EXIST = {"nul", "long"}  # a 404: no stored identifier is like that
METHODS = ("get", "post", "put", "patch", "delete")


def api_operations():
    """(path template, methods, path parameters and their schema) of every path of the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, item in schema["paths"].items():
        methods = sorted(method for method in item if method in METHODS)
        params = {}
        for method in methods:
            for param in item[method].get("parameters", []):
                if param["in"] == "path":
                    params[param["name"]] = param.get("schema", {})
        yield path, methods, params


API_OPERATIONS = list(api_operations())


def valid_value(param_schema) -> str:
    return str(uuid.uuid4()) if param_schema.get("format") == "uuid" else "x"


def api_client(brand) -> APIClient:
    key = ApiKeyFactory(brand=brand, mode="live")  # a live key: writes reach the view, not live_key_required
    client = APIClient()
    client.raise_request_exception = False  # a crash must answer the 500 it would in production
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    return client


def assert_envelope(response):
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/json", response.content[:300]
        error = response.json()["error"]
        assert error["type"] and error["code"] and error["message"], error


def test_the_schema_has_operations_with_path_parameters():
    assert {"user_id", "moment_id", "slug"} <= {name for *_, params in API_OPERATIONS for name in params}


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
@pytest.mark.parametrize(
    ("path", "method", "param", "params"),
    [
        pytest.param(path, method, param, params, id=f"{method.upper()} {path} {param}")
        for path, methods, params in API_OPERATIONS
        for method in methods
        for param in params
    ],
)
def test_a_bad_path_parameter_is_an_error_in_the_envelope_never_a_500(brand_a, path, method, param, params, bad):
    url = path
    for name, param_schema in params.items():
        url = url.replace(f"{{{name}}}", BAD_VALUES[bad] if name == param else valid_value(param_schema))

    response = getattr(api_client(brand_a), method)(url, {}, format="json")

    assert_envelope(response)
    if bad in CANNOT_EXIST:
        assert response.status_code == 404, (response.status_code, response.content[:300])
        assert response.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("path", "params"), [pytest.param(path, params, id=path) for path, _, params in API_OPERATIONS]
)
def test_options_answers_every_endpoint(brand_a, path, params):
    url = path
    for name, param_schema in params.items():
        url = url.replace(f"{{{name}}}", valid_value(param_schema))

    response = api_client(brand_a).options(url)

    assert_envelope(response)


# --- Pages outside the API ----------------------------------------------------------------------


def pages_with_parameters(patterns=None, prefix=""):
    """(route, parameter names) of every non-API, non-admin URL pattern that takes parameters;
    a route is a `path()` string, or a regex pattern's text."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(("api/", "admin/")):
            continue
        if isinstance(pattern, URLResolver):
            yield from pages_with_parameters(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            names = list(pattern.pattern.regex.groupindex)
            if names:
                yield route, names


def fill(route: str, values: dict) -> str:
    """The URL of `route` with each parameter replaced by its value (already percent-encoded)."""
    for name, value in values.items():
        route = re.sub(rf"<(?:\w+:)?{name}>", value.replace("\\", "\\\\"), route)
        route = replace_group(route, name, value)
    return "/" + route.replace("^", "").replace("$", "")


def replace_group(route: str, name: str, value: str) -> str:
    start = route.find(f"(?P<{name}>")
    if start < 0:
        return route
    depth, end = 0, start
    for end in range(start, len(route)):
        depth += {"(": 1, ")": -1}.get(route[end], 0)
        if depth == 0:
            break
    return route[:start] + value + route[end + 1 :]


PAGES = list(pages_with_parameters())


def test_the_walk_finds_the_storefront_pages():
    routes = {route for route, _ in PAGES}
    assert {"claim/<str:token>", "store/<slug:slug>", "me/orders/<uuid:order_id>"} <= routes


@pytest.fixture
def page_values(brand_a):
    """Values that exist, so that a bad value in one parameter reaches as deep as it can."""
    item = CatalogItemFactory(kind="credit")
    moment = earn_moment(brand_a, item)
    store_item = StoreItemFactory(brand=brand_a)
    return {
        "token": claim_token(moment.pk),
        "sku": item.sku,
        "slug": brand_a.slug,
        "store_item_id": str(store_item.pk),
        "uidb64": "MQ",
        "uidb36": "1",
        "key": "x",
    }


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    ("route", "param", "names"),
    [pytest.param(route, param, names, id=f"{route} {param}") for route, names in PAGES for param in names],
)
def test_a_bad_page_parameter_is_never_a_500(page_values, route, param, names, method, bad):
    client = Client(raise_request_exception=False)
    client.force_login(verified())
    values = {name: page_values.get(name, str(uuid.uuid4())) for name in names}
    values[param] = BAD_VALUES[bad]

    response = getattr(client, method)(fill(route, values))

    assert response.status_code < 500, (response.status_code, response.content[:300])


# --- NUL in a query string: every admin list (as a brand owner and the operator) and every API list


def admin_changelists():
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        filters = [spec for spec in model_admin.list_filter if isinstance(spec, str)]
        yield f"/admin/{model._meta.app_label}/{model._meta.model_name}/", filters


@pytest.mark.parametrize("as_operator", [False, True], ids=["brand-owner", "operator"])
def test_a_nul_in_any_admin_list_filter_or_search_is_a_400_never_a_500(client, owner_a, operator, as_operator):
    client.raise_request_exception = False
    client.force_login(operator if as_operator else owner_a)
    for url, filters in admin_changelists():
        for query in ["q=a%00b", "o=%00", *[f"{name}=a%00b" for name in filters], "a%00b=1"]:
            response = client.get(f"{url}?{query}")
            assert response.status_code == 400, (url, query, response.status_code)


@pytest.mark.parametrize("path", [path for path, methods, params in API_OPERATIONS if "get" in methods and not params])
def test_a_nul_in_an_api_query_string_is_a_400_in_the_envelope(brand_a, path):
    for query in ["limit=%00", "cursor=a%00b", "a%00b=1"]:
        response = api_client(brand_a).get(f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.status_code)
        assert_envelope(response)
        assert response.json()["error"]["code"] == "bad_request"  # DESIGN.md §5

"""The OpenAPI schema says what the API answers: what the fuzzer (tests/test_api_fuzz.py) found it
did not say, each kept fixed here with a plain example."""

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from config.errors import ERROR_TYPES
from tests.factories import ApiKeyFactory, CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", path, method, operation


def test_a_campaigns_threshold_is_a_number_in_the_schema_as_in_its_answers(schema, brand_a):
    """It was declared a decimal string while every answer sends a JSON number."""
    key = ApiKeyFactory(brand=brand_a, mode="live")
    CampaignFactory(brand=brand_a, slug="ten", threshold=10)

    answer = Client().get("/api/v1/campaigns/ten", HTTP_AUTHORIZATION=f"Bearer {key.secret}").json()

    assert answer["threshold"] == 10
    assert schema["components"]["schemas"]["Campaign"]["properties"]["threshold"] == {"type": "number"}


def test_every_operation_declares_the_errors_it_may_answer_in_the_envelope(schema):
    """Only 2xx and a few 409s were declared: every 400, 401, 404 or 429 was an undocumented status."""
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for name, path, method, operation in operations(schema):
        responses = operation["responses"]
        expected = {"400", "401", "403", "429"}
        if "{" in path or any(parameter["name"] == "cursor" for parameter in operation.get("parameters", [])):
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"413", "415"}
        if method != "get":
            expected.add("503")
        assert expected <= set(responses), name
        assert all(response["content"] == envelope for status, response in responses.items() if int(status) >= 400)
    error = schema["components"]["schemas"]["Error"]["properties"]["error"]
    types = set(ERROR_TYPES.values()) | {"invalid_request_error", "api_error"}
    assert set(error["properties"]["type"]["enum"]) == types


@pytest.mark.parametrize("method", ["post", "patch", "put", "delete"])
def test_a_write_to_an_unknown_api_path_is_the_envelopes_404_not_csrfs_page(method):
    """A browser-like client (CSRF enforced, no cookie) got Django's HTML 403 "CSRF verification failed"
    for a POST to a path no route matches, e.g. a campaign slug the converter refuses."""
    response = getattr(Client(enforce_csrf_checks=True), method)("/api/v1/campaigns/%F2%A5%B0%9C_%01_M/activate")

    assert response.status_code == 404
    error = {"type": "not_found_error", "code": "not_found", "message": "No such resource."}
    assert response.json() == {"error": error}

"""Error pages (issue 14, point 7): the storefront's look, the visitor's language and a way back;
the API keeps its JSON envelope for the same statuses."""

import json

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from config import errors

pytestmark = pytest.mark.django_db

WAY_BACK = 'href="/"'


def page_of(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize(
    "language, heading",
    [("en", "This page does not exist"), ("ko", "페이지가 없습니다"), ("th", "ไม่มีหน้านี้")],
)
def test_a_forged_claim_link_is_a_404_in_the_storefronts_look_and_the_visitors_language(client, language, heading):
    response = client.get("/claim/forged-token-that-matches-nothing", HTTP_ACCEPT_LANGUAGE=language)

    html = page_of(response)
    assert response.status_code == 404
    assert f'<html lang="{language}">' in html and 'class="site-header"' in html
    assert heading in html and 'data-status="404"' in html
    assert WAY_BACK in html and reverse("storefront:rewards") in html


@pytest.mark.parametrize(
    "handler, status, heading",
    [
        (lambda request: errors.bad_request(request, None), 400, "요청을 읽을 수 없습니다"),
        (lambda request: errors.permission_denied(request, None), 403, "이 페이지를 열 수 없습니다"),
        (errors.too_many_requests, 429, "시도가 너무 많습니다"),
        (errors.server_error, 500, "문제가 발생했습니다"),
    ],
)
def test_every_error_page_speaks_korean_to_a_korean_visitor_with_a_way_back(handler, status, heading):
    request = RequestFactory().get("/claim/anything")
    with translation.override("ko"):
        response = handler(request)

    html = page_of(response)
    assert response.status_code == status and f'data-status="{status}"' in html
    assert heading in html and '<html lang="ko">' in html and WAY_BACK in html


@pytest.mark.parametrize(
    "handler, status, code",
    [
        (lambda request: errors.bad_request(request, None), 400, "bad_request"),
        (lambda request: errors.permission_denied(request, None), 403, "permission_denied"),
        (lambda request: errors.page_not_found(request, None), 404, "not_found"),
        (errors.too_many_requests, 429, "throttled"),
        (errors.server_error, 500, "internal_error"),
    ],
)
def test_the_api_keeps_its_json_envelope_for_the_same_statuses(handler, status, code):
    response = handler(RequestFactory().get("/api/v1/anything"))

    assert response.status_code == status and response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"]["code"] == code


def test_allauths_rate_limit_answers_with_the_storefronts_429(client):
    for _ in range(6):  # allauth's default: five password resets a minute per address
        response = client.post(reverse("account_reset_password"), {"email": "someone@example.com"})

    assert response.status_code == 429 and 'data-status="429"' in page_of(response)
    assert "Too many tries" in page_of(response) and 'class="site-header"' in page_of(response)

"""The API's browsable docs work under the Content-Security-Policy (config/settings.py): Swagger UI
loads its script from a URL of its own, not inline. Every browser test fails on a CSP violation
(the `page` fixture), so the storefront and the console are held to it by the other tests."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.needs("chromium"), pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_their_operations_under_the_policy(page, screenshot):
    response = page.goto("/api/v1/docs/")

    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no nonce needed here
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.get_by_text("/api/v1/test_clock/advance")).to_be_visible()
    screenshot(page, "api-docs-under-csp")

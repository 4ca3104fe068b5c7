"""Browser fixtures: one headless Chromium per module, a fresh context (cookies, storage) per test.

Playwright's sync API runs an asyncio event loop in the test's thread, and Django refuses ORM calls
from a thread with a running loop (SynchronousOnlyOperation). The documented workaround for
Playwright with pytest-django is DJANGO_ALLOW_ASYNC_UNSAFE; it is set only while a browser is up,
so the rest of the suite keeps Django's guard.
"""

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.staticfiles import finders
from django.core.files import File

from rewards.models import DigitalCode
from tests.conftest import CHROMIUM, IN_CI, service_missing
from tests.factories import CatalogItemFactory, CharityFactory

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 10_000  # a page of this admin takes milliseconds; waiting longer only hides a hang


def _unavailable(reason):
    # Same rule as the `needs` marker: skip locally, fail in CI. The marker's own fixture is
    # function-scoped and so runs after this module-scoped one.
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide every service)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    reason = service_missing("chromium")
    if reason:
        _unavailable(f"needs a service: {reason}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("needs the playwright package")

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    """A page in a fresh browser context aimed at the live server."""
    from playwright.sync_api import expect

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    # Every page works under the Content-Security-Policy (config/settings.py): Chromium reports each
    # refused script, style or frame on the console, and the test then fails.
    csp_violations = []

    def note_csp_violation(message):
        if "Content Security Policy" in message.text:
            csp_violations.append(f"{page.url}: {message.text}")

    page.on("console", note_csp_violation)
    try:
        yield page
    finally:
        context.close()
    assert not csp_violations, "\n".join(csp_violations)


@pytest.fixture
def new_page(browser, live_server):
    """`new_page(**options)`: a page in a fresh context of its own, for a test that needs other
    context options than `page` (a locale, a phone's viewport, JavaScript off…)."""
    from playwright.sync_api import expect

    contexts = []

    def make(**options):
        context = browser.new_context(
            base_url=live_server.url, **{"viewport": {"width": 1280, "height": 800}, **options}
        )
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def screenshot():
    """`screenshot(page, name)` saves a full-page PNG to test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name):
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture
def accessibility_violations():
    """`accessibility_violations(page)`: axe-core run on the page as it is; the serious and critical
    violations (WCAG 2.1 A and AA rules), each as `rule: the elements`, for an assertion to list."""

    def check(page) -> list[str]:
        # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not
        # govern: a <script> tag added to the page would be (rightly) refused as inline.
        page.evaluate(AXE.read_text())
        result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
        return [
            f"{violation['id']} ({violation['impact']}): "
            + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
            for violation in result["violations"]
            if violation["impact"] in ("serious", "critical")
        ]

    return check


@pytest.fixture(autouse=True)
def _claim_urls_point_at_the_live_server(settings, live_server):
    """The API builds claim URLs from SITE_URL: here, the live server the browser talks to."""
    settings.SITE_URL = live_server.url


@pytest.fixture
def items():
    """One catalog item of each kind, as the platform stocks them."""
    charity = CharityFactory(name="Blue Ocean Trust")
    speaker = CatalogItemFactory(
        sku="SPEAKER", name="Smart speaker", kind="physical", value=Decimal("20.00"), countries=["KR", "TH"]
    )
    card = CatalogItemFactory(sku="CARD-10", name="10 USD gift card", kind="digital_code", value=Decimal("10.00"))
    DigitalCode.objects.create(item=card, code="GIFT-7Q2M-XK4P")
    credit = CatalogItemFactory(
        sku="CREDIT-5", name="5 USD store credit", kind="credit", value=Decimal("5.00"), cost=Decimal("5.00")
    )
    donation = CatalogItemFactory(
        sku="OCEAN-1", name="1 USD for the ocean", kind="donation", value=Decimal("1.00"), charity=charity
    )
    pictures = {speaker: "SPEAKER-SMART", card: "GC-10-USD", credit: "CREDIT-5", donation: "DONATE-OCEAN-1"}
    for item, picture in pictures.items():  # the demo's pictures, uploaded as an operator would
        with open(finders.find(f"rewards/demo-catalog/{picture}.png"), "rb") as file:
            item.image.save(f"{picture.lower()}.png", File(file))
    return {"physical": speaker, "digital_code": card, "credit": credit, "donation": donation}


def sign_in_to_console(page, user, password):
    """Through the console's door, as staff do: the admin sends them to allauth's sign-in page.
    The account's email is verified, as a reset link or a confirmation would have made it."""
    from playwright.sync_api import expect

    EmailAddress.objects.get_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fadmin%2F$"))
    page.locator("#id_login").fill(user.email)
    page.locator("#id_password").fill(password)
    page.locator("main button[type=submit]").click()  # in the page's language: the sign-in form's one button

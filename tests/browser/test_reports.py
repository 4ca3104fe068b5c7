"""The brand's results in a real browser, in English and Korean: the console's front page (this
month per campaign), a campaign's report (figures, charts with their tables, the month picker, the
CSV link) and the operator's front page. Screenshots land in test-artifacts/screenshots/."""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rewards.earning.services import EventInput, events_ingest
from rewards.periods import month_bounds, month_of
from tests.browser.conftest import sign_in_to_console
from tests.factories import BrandFactory, CampaignFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.needs("chromium"), pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def activity(brand, campaign, when, users):
    events = [EventInput(event_id=uuid.uuid4().hex, user_id=user, action=campaign.action) for user in users]
    events_ingest(brand=brand, mode="live", events=events, now=when)


@pytest.fixture
def results():
    """Four weeks of workouts last month and some today: moments on many days, users on their way."""
    now = timezone.now()
    start, _ = month_bounds(month_of(now))
    brand = BrandFactory(slug="fitlife", name="FitLife", monthly_cap=Decimal("5000.00"))
    owner = MembershipFactory(brand=brand, role="owner").user
    workouts = CampaignFactory(
        brand=brand,
        slug="three-workouts",
        name="Three workouts",
        action="workout",
        threshold=Decimal("3"),
        cpa=Decimal("5.00"),
        monthly_budget=Decimal("500.00"),
        active=True,
    )
    for day in range(28, 0, -1):
        when = start - timedelta(days=day) + timedelta(hours=9)
        users = [f"u{day}-{n}" for n in range(day % 5 + 1)]
        activity(brand, workouts, when, users * 3)
    activity(brand, workouts, now - timedelta(minutes=5), ["today-1"] * 3 + ["today-2"] * 2 + ["today-3"])
    return {"brand": brand, "owner": owner, "campaign": workouts, "last": month_of(start - timedelta(days=1))}


def log_in(page, user):
    sign_in_to_console(page, user, PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/$"))


@pytest.mark.parametrize(("locale", "words"), [("en-US", ("This month", "Funnel")), ("ko-KR", ("이번 달", "퍼널"))])
def test_an_owner_reads_the_dashboard_and_a_report(new_page, screenshot, results, locale, words):
    page = new_page(locale=locale, extra_http_headers={"Accept-Language": locale})
    log_in(page, results["owner"])

    dashboard = page.locator('[data-dashboard="brand"]')
    expect(dashboard).to_contain_text(words[0])
    row = dashboard.locator('tr[data-campaign="three-workouts"]')
    expect(row).to_contain_text("Three workouts")
    screenshot(page, f"reports-dashboard-{locale[:2]}")

    row.get_by_role("link", name="Three workouts").click()
    expect(page.locator("#funnel-title")).to_have_text(words[1])
    expect(page.locator('[data-figure="in_progress"]')).to_have_text("2")  # today-2 and today-3
    chart = page.locator("img.chart").first
    expect(chart).to_be_visible()
    assert chart.get_attribute("alt")
    screenshot(page, f"reports-report-this-month-{locale[:2]}")

    page.locator("#report-month").select_option(f"{results['last']:%Y-%m}")
    page.locator(".report-tools form button").click()
    expect(page).to_have_url(re.compile(rf"month={results['last']:%Y-%m}"))
    expect(page.locator('[data-figure="earned"]')).not_to_have_text("0")
    page.locator("details.figures summary").first.click()
    expect(page.locator('table[data-table="daily"]')).to_be_visible()
    screenshot(page, f"reports-report-last-month-{locale[:2]}")
    href = page.locator(".report-tools a", has_text=re.compile("CSV")).first.get_attribute("href")
    assert href.endswith(".csv") or ".csv?" in href


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_the_operator_reads_the_platforms_front_page(new_page, screenshot, results, locale):
    operator = UserFactory(is_staff=True, is_superuser=True)
    page = new_page(locale=locale, extra_http_headers={"Accept-Language": locale})
    log_in(page, operator)

    operator_dashboard = page.locator('[data-dashboard="operator"]')
    expect(operator_dashboard.locator('table[data-table="spend_by_brand"]')).to_contain_text("FitLife")
    expect(operator_dashboard.locator('table[data-table="queue"]')).to_be_visible()
    screenshot(page, f"reports-operator-index-{locale[:2]}")

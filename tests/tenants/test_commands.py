"""create_brand, create_api_key and seed_demo, run as an operator's script runs them."""

import re
from datetime import UTC, datetime, time

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.management import ManagementUtility
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from config.scopes import fresh_scope
from rewards.models import (
    BrandSpend,
    Campaign,
    CampaignSpend,
    CatalogItem,
    DigitalCode,
    Donation,
    Event,
    LedgerEntry,
    Moment,
    Order,
    OrderEvent,
    Progress,
    StockMovement,
    StoreItem,
    Wallet,
    WalletEntry,
)
from rewards.periods import month_of
from rewards.reports.selectors import credit_without_store, operator_dashboard
from storefront.demo import END_USER_EMAIL
from storefront.models import Address, BrandLink
from storefront.selectors import store_items
from tenants.demo import DEMO_BRANDS, OPERATOR_EMAIL
from tenants.models import ApiKey, Brand, Membership, User

pytestmark = pytest.mark.django_db(transaction=True)


def manage(*argv):
    """Run `python manage.py …` in this process: the real argument parsing and exit status, and, as
    in a new process, no brand scope (the test's own `across_brands` does not reach it)."""
    try:
        with fresh_scope():
            ManagementUtility(["manage.py", *argv]).execute()
    except SystemExit as exit_:
        return exit_.code
    return 0


def counts():
    return {model.__name__: model.objects.count() for model in (Brand, Membership, ApiKey, User)}


def test_create_brand_makes_the_brand_and_invites_its_owner(capsys):
    assert manage("create_brand", "fitlife", "--name", "FitLife", "--owner-email", "Ana@FitLife.example") == 0

    brand = Brand.objects.get(slug="fitlife")
    owner = Membership.objects.get(brand=brand)
    assert brand.name == "FitLife" and brand.is_active and str(brand.monthly_cap) == "15000.00"
    assert owner.role == "owner" and owner.user.email == "ana@fitlife.example" and owner.user.is_staff
    assert brand.webhook_secret.startswith("whsec_")
    assert "Created brand fitlife" in capsys.readouterr().out
    assert mail.outbox[0].to == ["ana@fitlife.example"]
    assert "/reset/" in mail.outbox[0].body  # a new person sets a password through the link


def test_an_existing_user_becomes_owner_without_a_new_account(capsys):
    existing = User.objects.create_user(email="ana@example.com", password="x" * 12)

    assert manage("create_brand", "fitlife", "--name", "FitLife", "--owner-email", "ana@example.com") == 0

    assert Membership.objects.get(brand__slug="fitlife").user == existing
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["Fit Life", "--name", "X", "--owner-email", "a@b.example"], "lowercase letters"),
        (["FitLife", "--name", "X", "--owner-email", "a@b.example"], "lowercase letters"),
        (["fit_life", "--name", "X", "--owner-email", "a@b.example"], "lowercase letters"),
        (["-fitlife", "--name", "X", "--owner-email", "a@b.example"], "required: slug"),
        (["fit--life", "--name", "X", "--owner-email", "a@b.example"], "lowercase letters"),
        (["x" * 51, "--name", "X", "--owner-email", "a@b.example"], "at most 50"),
        (["fitlife", "--name", "", "--owner-email", "a@b.example"], "name"),
        (["fitlife", "--name", "X", "--owner-email", "not-an-email"], "not a valid email"),
        (["fitlife", "--owner-email", "a@b.example"], "--name"),
        (["fitlife", "--name", "X"], "--owner-email"),
        (["existing", "--name", "X", "--owner-email", "a@b.example"], "already exists"),
        (["fitlife", "--name", "X", "--owner-email", ""], "not a valid email"),
        (["fitlife", "--name", "X", "--owner-email", "a" * 250 + "@b.example"], "not a valid email"),
        (["fitlife\n", "--name", "X", "--owner-email", "a@b.example"], "lowercase letters"),
        (["fitlife", "--name", "Alpha\nBeta", "--owner-email", "a@b.example"], "plain text"),
        (["fitlife", "--name", "Tab\there", "--owner-email", "a@b.example"], "plain text"),
        (["fitlife", "--name", "   ", "--owner-email", "a@b.example"], "name"),
        (["fitlife", "--name", "x" * 121, "--owner-email", "a@b.example"], "at most 120"),
    ],
)
def test_create_brand_refuses_bad_input_and_writes_nothing(argv, message, capsys):
    Brand.objects.create(slug="existing", name="Existing")
    before = counts()

    assert manage("create_brand", *argv) != 0

    err = capsys.readouterr().err
    assert message in err, err
    assert counts() == before
    assert not mail.outbox


def test_commands_answer_in_english_whatever_language_the_process_last_served(capsys):
    """A web request in Thai leaves Thai active in its thread; a command run after it in the same
    process still says what went wrong in English (operators' scripts read it)."""
    translation.activate("th")
    try:
        assert manage("create_brand", "fitlife", "--name", "x" * 121, "--owner-email", "a@b.example") != 0
    finally:
        translation.deactivate()

    assert "at most 120" in capsys.readouterr().err


def test_create_api_key_prints_the_key_alone_on_the_last_line(capsys):
    brand = Brand.objects.create(slug="fitlife", name="FitLife")

    assert manage("create_api_key", "fitlife", "--mode", "test") == 0

    last_line = capsys.readouterr().out.rstrip("\n").split("\n")[-1]
    assert re.fullmatch(r"mk_test_[A-Za-z0-9]{40}", last_line)
    key = ApiKey.objects.get(brand=brand)
    assert key.mode == "test" and last_line.startswith(key.prefix)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {last_line}")
    assert client.get("/api/v1/me").json()["mode"] == "test"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["nope", "--mode", "live"], "No brand with the slug 'nope'"),
        (["fitlife", "--mode", "prod"], "invalid choice: 'prod'"),
        (["fitlife", "--mode", "LIVE"], "invalid choice: 'LIVE'"),
        (["fitlife"], "--mode"),
        ([], "slug"),
        (["fitlife", "--mode", "live", "--name", "x" * 81], "at most 80"),
        (["fitlife", "--mode", "live", "--name", "two\nlines"], "plain text"),
    ],
)
def test_create_api_key_refuses_bad_input_and_writes_nothing(argv, message, capsys):
    Brand.objects.create(slug="fitlife", name="FitLife")

    assert manage("create_api_key", *argv) != 0

    assert message in capsys.readouterr().err
    assert ApiKey.objects.count() == 0


def test_seed_demo_makes_the_five_brands_with_owners_and_prints_the_logins(capsys):
    assert manage("seed_demo") == 0

    out = capsys.readouterr().out
    assert Brand.objects.count() == 5
    for demo in DEMO_BRANDS:
        brand = Brand.objects.get(slug=demo.slug)
        owner = Membership.objects.get(brand=brand, role="owner").user
        assert owner.check_password("moments-demo")
        assert owner.email in out
    assert User.objects.get(email=OPERATOR_EMAIL).is_superuser
    assert len(re.findall(r"mk_test_[A-Za-z0-9]{40}", out)) == 5
    customer_credit = Wallet.objects.get(brand__slug="nimbus-mobile", user__email=END_USER_EMAIL)
    assert customer_credit.balance == 10
    assert re.search(r"/claim/[A-Za-z0-9_-]{43}", out)
    # The printed logins open the console through its one door, allauth's sign-in.
    for email in (OPERATOR_EMAIL, DEMO_BRANDS[0].owner_email):
        browser = Client()
        signed_in = browser.post(reverse("account_login"), {"login": email, "password": "moments-demo"})
        assert signed_in.status_code == 302 and signed_in["Location"] == reverse("admin:index"), email
        assert browser.get(reverse("admin:index")).status_code == 200


def test_seed_demo_tells_the_stories_with_weeks_of_activity(capsys):
    """Reports and charts have something to show on a fresh install: events over weeks, moments
    earned day by day, claims, parcels, donations, credit spent, a campaign at its cap and one near it."""
    assert manage("seed_demo") == 0

    now = timezone.now()
    period = month_of(now)
    month_start = datetime.combine(period, time.min, tzinfo=UTC)
    generated = Event.objects.filter(event_id__startswith="demo-activity-")
    assert 2000 <= generated.count() <= 10000  # a few thousand
    assert max(generated.values_list("received_at", flat=True)) <= now
    for demo in DEMO_BRANDS:
        events = generated.filter(brand__slug=demo.slug)
        assert len({at.date() for at in events.values_list("received_at", flat=True)}) >= 3, demo.slug
        moments = Moment.objects.filter(brand__slug=demo.slug, mode="live")
        this_month = {
            at.date() for at in moments.filter(earned_at__gte=month_start).values_list("earned_at", flat=True)
        }
        assert len(this_month) >= min(3, now.day), demo.slug  # on the 1st, today is all the month there is
        assert moments.filter(earned_at__lt=month_start).exists(), demo.slug  # the month before has its own
        orders = Order.objects.filter(brand__slug=demo.slug)
        assert moments.filter(status__in=["claimed", "fulfilled"], account__isnull=False).exists(), demo.slug
        assert orders.filter(status="fulfilled").exists(), demo.slug
    assert Order.objects.filter(status="shipped", item__kind="physical").exclude(tracking_number="").exists()
    for slug in ("questforge", "nimbus-mobile", "streambox"):  # credit spent in their stores
        assert Order.objects.filter(brand__slug=slug, store_item__isnull=False).exists(), slug
    # Every demo catalog item has its picture, uploaded as the operator uploads theirs.
    assert not CatalogItem.objects.filter(image="").exists()
    assert all(name.startswith("catalog/") for name in CatalogItem.objects.values_list("image", flat=True))
    # Every demo brand that gives credit has a stocked store (and so no console warning).
    gives_credit = set(
        Brand.objects.filter(campaigns__reward_links__item__kind="credit").values_list("slug", flat=True)
    )
    assert gives_credit >= {"questforge", "nimbus-mobile", "streambox"}
    for brand in Brand.objects.filter(slug__in=gives_credit):
        assert store_items(brand).exists(), brand.slug
        assert credit_without_store(brand, "live") == [], brand.slug
    donations = Donation.objects.filter(brand__slug="streambox")
    assert donations.count() >= 100
    assert donations.filter(created_at__lt=month_start).exists()  # given on the days the hours were streamed

    spend = CampaignSpend.objects.filter(period=period).select_related("campaign")
    capped = spend.get(campaign__slug="subscribe-speaker")
    assert capped.capped_at is not None and capped.spent > capped.campaign.monthly_budget - capped.campaign.cpa
    assert [row.campaign.slug for row in spend.filter(capped_at__isnull=False)] == ["subscribe-speaker"]
    near = spend.get(campaign__slug="level-15")
    assert near.capped_at is None and near.spent >= near.campaign.monthly_budget * 8 / 10
    known = Event.objects.filter(brand__slug="nimbus-mobile").values("user_id").distinct().count()
    for action in ("friend_referred", "media_uploaded", "match_predicted"):  # the telco's challenges
        completed = Moment.objects.filter(campaign__action=action).values("user_id").distinct().count()
        assert 0 < completed < known, action
    assert "Activity of the last 5 weeks (--size small):" in capsys.readouterr().out
    # every scenario has an active twin in test mode, for the printed test keys; the activity is live
    scenarios = Campaign.objects.filter(status="active").values_list("brand__slug", "slug")
    assert set(scenarios.filter(mode="test")) == set(scenarios.filter(mode="live"))
    assert not Moment.objects.filter(mode="test").exists()
    # the operator's front page has something running low
    figures = operator_dashboard(brands=list(Brand.objects.all()))
    assert "GC-25-USD" in {row["item"].sku for row in figures.low_codes}
    assert "TOTE-BAG" in {item.sku for item in figures.low_stock}


def test_seed_demo_refuses_an_unknown_size(capsys):
    assert manage("seed_demo", "--size", "huge") != 0

    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert Brand.objects.count() == 0


def test_seed_demo_twice_changes_nothing(capsys):
    manage("seed_demo")
    first = _everything()
    assert first["Event"] and first["Moment"] and first["Order"]

    assert manage("seed_demo") == 0
    assert manage("seed_demo", "--size", "large") == 0  # the activity is there: no more, whatever the size

    again = _everything()
    assert (len(again["Event"]), len(again["Moment"])) == (len(first["Event"]), len(first["Moment"]))
    assert again == first
    out = capsys.readouterr().out
    assert "mk_test_" not in out.split("Moments demo data is ready.")[-1]
    assert "already there" in out.split("Moments demo data is ready.")[-1]


def _everything():
    """Every row of every table seed_demo writes (stock counts and wallet balances included)."""
    models = [Brand, Membership, ApiKey, User, CatalogItem, DigitalCode, Campaign, Event, Moment, LedgerEntry]
    models += [BrandSpend, CampaignSpend, Order, StoreItem, Wallet, WalletEntry, BrandLink, Progress, Donation]
    models += [OrderEvent, StockMovement, Address, EmailAddress]
    return {
        model.__name__: sorted(
            (str(row.pk), str(model_to_dict(row, exclude=["logo", "image"]))) for row in model.objects.all()
        )
        for model in models
    }

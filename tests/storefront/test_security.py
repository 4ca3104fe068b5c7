"""The storefront's security (issue 5, point 8; DESIGN.md §6 "Isolation"), through the real views.

- CSRF: every form of the storefront, of allauth and Django's language switcher refuses a POST
  without its token (403) and changes nothing; the registry of forms is checked against the URL
  configuration, so a new POST view without a case here, or one made csrf_exempt, fails.
- Brand A's claim link never shows brand B's name, logo, colour, rewards or the account's B orders.
- Forged, altered, reused, expired and cancelled tokens on every claim step: the proper page or a
  404, never a 500, and no order, address or link made.
- Two sessions confirming the same claim at the same instant, on PostgreSQL with real threads:
  one order, one effect.
- One account never sees nor changes another's orders, addresses, brand links, moments or data.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from importlib import import_module
from types import SimpleNamespace

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from django.urls.converters import IntConverter, UUIDConverter

from rewards.models import CatalogItem, LedgerEntry, Moment, Order, OrderEvent, Wallet
from rewards.moments.claims import claim_token
from storefront import services
from storefront.models import Address, BrandLink
from tenants.models import User
from tests.factories import AddressFactory, CatalogItemFactory, StoreItemFactory
from tests.storefront.conftest import (
    ADDRESS,
    PASSWORD,
    at_once,
    earn_moment,
    give_credit,
    placed_order,
    signed_in_client,
    verified,
)

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


# --- CSRF on every form -----------------------------------------------------------------------

# Every URL configuration whose views take forms from a browser: the storefront's, allauth's and
# Django's set_language. (The API authenticates with bearer keys, not cookies; the admin is
# covered by tests/tenants.)
FORM_URLCONFS = [("storefront.urls", "storefront:"), ("allauth.urls", ""), ("django.conf.urls.i18n", "")]


def _patterns(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            yield pattern


def routes():
    """(URL name, pattern) of every view of FORM_URLCONFS."""
    return [
        (prefix + pattern.name, pattern)
        for module, prefix in FORM_URLCONFS
        for pattern in _patterns(import_module(module).urlpatterns)
    ]


def takes_post(pattern) -> bool:
    view_class = getattr(pattern.callback, "view_class", None)
    return view_class is None or hasattr(view_class, "post")  # a function view may take anything


def any_path(name, pattern) -> str:
    """A path that resolves to the pattern, with made-up values for its parameters."""
    converters = getattr(pattern.pattern, "converters", {})
    kwargs = {}
    for key in pattern.pattern.regex.groupindex:
        converter = converters.get(key)
        kwargs[key] = (
            str(uuid.uuid4())
            if isinstance(converter, UUIDConverter)
            else "1"
            if isinstance(converter, IntConverter) or key.startswith("uid")
            else "x"
        )
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def world(brand_a):
    """An account with everything a form can change: credit, a brand link, an address, a moment to
    claim and a store item to buy."""
    user = verified(email="minji@example.com")
    give_credit(user, brand_a, Decimal("50.00"))  # links the account to a brand user of brand A
    link = BrandLink.objects.get(user=user)
    speaker = CatalogItemFactory(kind="physical", value=Decimal("20.00"))
    moment = earn_moment(brand_a, speaker, user_id=link.brand_user_id)
    return SimpleNamespace(
        user=user,
        brand=brand_a,
        link=link,
        speaker=speaker,
        moment=moment,
        token=claim_token(moment.pk),
        address=AddressFactory(user=user),
        store_item=StoreItemFactory(brand=brand_a, price=Decimal("20.00")),
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def password_of(w):
    return User.objects.get(pk=w.user.pk).password


def unverified_email_key(w):
    address = EmailAddress.objects.create(user=w.user, email="second@example.com", verified=False)
    return reverse("account_confirm_email", args=[EmailConfirmationHMAC(address).key]), {}


def password_reset_form(w, client):
    url = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(w.user), "key": default_token_generator.make_token(w.user)},
    )
    form = client.get(url)  # allauth keeps the key in the session and moves on to a key-free URL
    assert form.status_code == 302
    return form["Location"], {"password1": "a brand new passphrase 77", "password2": "a brand new passphrase 77"}


@dataclass(frozen=True)
class Form:
    signed_in: bool
    request: Callable  # (world, client) -> (url, data)
    state: Callable  # (world, client) -> what a successful POST changes


FORMS = {
    "storefront:claim-item": Form(
        True,
        lambda w, c: (reverse("storefront:claim-item", args=[w.token, w.speaker.sku]), ADDRESS),
        lambda w, c: Address.objects.filter(user=w.user).count(),
    ),
    "storefront:claim-confirm": Form(
        True,
        lambda w, c: (
            reverse("storefront:claim-confirm", args=[w.token, w.speaker.sku]),
            {"address": str(w.address.pk)},
        ),
        lambda w, c: (Order.objects.filter(moment=w.moment).count(), Moment.objects.get(pk=w.moment.pk).status),
    ),
    "storefront:address-new": Form(
        True,
        lambda w, c: (reverse("storefront:address-new"), ADDRESS),
        lambda w, c: Address.objects.filter(user=w.user).count(),
    ),
    "storefront:address-edit": Form(
        True,
        lambda w, c: (reverse("storefront:address-edit", args=[w.address.pk]), {**ADDRESS, "city": "Busan"}),
        lambda w, c: Address.objects.get(pk=w.address.pk).city,
    ),
    "storefront:address-delete": Form(
        True,
        lambda w, c: (reverse("storefront:address-delete", args=[w.address.pk]), {}),
        lambda w, c: Address.objects.filter(pk=w.address.pk).exists(),
    ),
    "storefront:unlink": Form(
        True,
        lambda w, c: (reverse("storefront:unlink", args=[w.link.pk]), {}),
        lambda w, c: BrandLink.objects.filter(pk=w.link.pk).exists(),
    ),
    "storefront:delete-account": Form(
        True,
        lambda w, c: (reverse("storefront:delete-account"), {"confirm": "DELETE"}),
        lambda w, c: User.objects.filter(pk=w.user.pk).exists(),
    ),
    "storefront:store-buy": Form(
        True,
        lambda w, c: (
            reverse("storefront:store-buy", args=[w.brand.slug, w.store_item.pk]),
            {"address": str(w.address.pk)},
        ),
        lambda w, c: (Wallet.objects.get(user=w.user).balance, Order.objects.filter(store_item=w.store_item).count()),
    ),
    "account_login": Form(
        False,
        lambda w, c: (reverse("account_login"), {"login": w.user.email, "password": PASSWORD}),
        lambda w, c: signed_in(c),
    ),
    "account_signup": Form(
        False,
        lambda w, c: (
            reverse("account_signup"),
            {"email": "newcomer@example.com", "password1": "a long passphrase 42", "password2": "a long passphrase 42"},
        ),
        lambda w, c: User.objects.filter(email="newcomer@example.com").exists(),
    ),
    "account_reset_password": Form(
        False,
        lambda w, c: (reverse("account_reset_password"), {"email": w.user.email}),
        lambda w, c: len(mail.outbox),
    ),
    "account_reset_password_from_key": Form(False, lambda w, c: password_reset_form(w, c), lambda w, c: password_of(w)),
    "account_confirm_email": Form(
        True,
        lambda w, c: unverified_email_key(w),
        lambda w, c: EmailAddress.objects.filter(email="second@example.com", verified=True).exists(),
    ),
    "account_email": Form(
        True,
        lambda w, c: (reverse("account_email"), {"email": "second@example.com", "action_add": ""}),
        lambda w, c: EmailAddress.objects.filter(user=w.user).count(),
    ),
    "account_change_password": Form(
        True,
        lambda w, c: (
            reverse("account_change_password"),
            {"oldpassword": PASSWORD, "password1": "a new passphrase 77", "password2": "a new passphrase 77"},
        ),
        lambda w, c: password_of(w),
    ),
    "account_logout": Form(True, lambda w, c: (reverse("account_logout"), {}), lambda w, c: signed_in(c)),
    "set_language": Form(
        False,
        lambda w, c: (reverse("set_language"), {"language": "ko", "next": "/"}),
        lambda w, c: (
            c.cookies[settings.LANGUAGE_COOKIE_NAME].value if settings.LANGUAGE_COOKIE_NAME in c.cookies else None
        ),
    ),
}


@pytest.mark.parametrize("name, pattern", routes(), ids=[name for name, _ in routes()])
def test_no_view_is_csrf_exempt_and_a_post_without_the_token_is_refused(name, pattern, world):
    """Every view, GET-only or not, whatever its parameters: the CSRF check stands before it."""
    assert not getattr(pattern.callback, "csrf_exempt", False), f"{name} is csrf_exempt"
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.user)
    client.get(reverse("storefront:home"))  # the browser holds a CSRF cookie, as a victim's would

    response = client.post(any_path(name, pattern), {})

    assert response.status_code == 403, name
    assert "CSRF verification failed" in text(response)


def test_every_storefront_view_taking_a_post_has_a_csrf_case():
    """The registry below must grow with the storefront: a new POST view fails here until its case is added."""
    posting = {name for name, pattern in routes() if name.startswith("storefront:") and takes_post(pattern)}

    assert posting == {name for name in FORMS if name.startswith("storefront:")}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(name, world):
    form = FORMS[name]
    client = Client(enforce_csrf_checks=True)
    if form.signed_in:
        client.force_login(world.user)
    client.get(reverse("storefront:home"))  # the CSRF cookie is there; only the form's token is missing
    url, data = form.request(world, client)
    before = form.state(world, client)

    forged = client.post(url, data)

    assert forged.status_code == 403 and "CSRF verification failed" in text(forged)
    assert form.state(world, client) == before
    # The same form with its token goes through: the 403 was the token's doing, and `state` sees the change.
    genuine = client.post(url, {**data, "csrfmiddlewaretoken": client.cookies[settings.CSRF_COOKIE_NAME].value})
    assert genuine.status_code in (200, 302) and form.state(world, client) != before


# --- Brand A's claim link shows brand A only --------------------------------------------------


@pytest.fixture
def two_brands(brand_a, brand_b):
    """One account that is a customer of both brands: an order, credit and a store at B; a moment of
    A to claim, with a choice of a parcel or a gift card."""
    brand_a.primary_colour, brand_a.logo.name = "#aa1111", "brand-logos/alpha-fitness-logo.png"
    brand_b.primary_colour, brand_b.logo.name = "#22bb22", "brand-logos/beta-news-logo.png"
    for brand in (brand_a, brand_b):
        brand.save()
    user = verified(email="both@example.com")
    beta_speaker = CatalogItemFactory(sku="BETA-SPEAKER", name="Beta Speaker Deluxe", kind="physical")
    beta_order = placed_order(brand_b, beta_speaker, user=user, user_id="beta-user-7")
    Order.objects.filter(pk=beta_order.pk).update(carrier="Beta Post", tracking_number="BETATRACK123")
    give_credit(user, brand_b, Decimal("30.00"))
    beta_store = StoreItemFactory(brand=brand_b, item__name="Beta Mug", price=Decimal("10.00"))
    bottle = CatalogItemFactory(sku="ALPHA-BOTTLE", name="Alpha Water Bottle", kind="physical", countries=["KR"])
    card = CatalogItemFactory(sku="ALPHA-CARD", name="Alpha Gift Card", kind="digital_code")
    moment = earn_moment(brand_a, bottle, card, user_id="alpha-user-1", name="Alpha Thirty Workouts")
    return SimpleNamespace(
        user=user,
        moment=moment,
        token=claim_token(moment.pk),
        bottle=bottle,
        address=AddressFactory(user=user, full_name="Somchai", line1="1 Sukhumvit", city="Bangkok", country="TH"),
        beta_order=beta_order,
        beta_store=beta_store,
        beta_markers=[
            "Beta News",
            "beta-news",
            "#22bb22",
            "beta-news-logo",
            "Beta Speaker Deluxe",
            "BETA-SPEAKER",
            "Beta Post",
            "BETATRACK123",
            "Beta Mug",
            beta_order.moment.campaign.name,
            str(beta_order.pk),
        ],
    )


def assert_brand_a_only(page, world):
    assert "Alpha Fitness" in page and "#aa1111" in page and "alpha-fitness-logo" in page  # it is A's page
    leaked = [marker for marker in world.beta_markers if marker in page]
    assert not leaked, leaked


def test_brand_as_claim_link_never_shows_brand_bs_data(brand_a, two_brands, client):
    w = two_brands
    claim = reverse("storefront:claim", args=[w.token])
    item = reverse("storefront:claim-item", args=[w.token, w.bottle.sku])
    pages = [client.get(claim)]  # signed out
    client.force_login(w.user)
    pages += [
        client.get(claim),  # the choice
        client.get(item),  # the address step
        client.get(item, {"address": w.address.pk}),  # the review
        client.get(reverse("storefront:claim-item", args=[w.token, "ALPHA-CARD"])),
        # refused: the bottle does not go to Thailand
        client.post(reverse("storefront:claim-confirm", args=[w.token, w.bottle.sku]), {"address": w.address.pk}),
    ]
    placed = client.post(
        reverse("storefront:claim-confirm", args=[w.token, w.bottle.sku]),
        {"address": AddressFactory(user=w.user).pk},
        follow=True,
    )
    pages += [placed, client.get(claim, follow=True)]  # the order page; the used link leads back to it
    client.force_login(verified(email="someone-else@example.com"))
    pages.append(client.get(claim))  # used, seen by another account

    assert [page.status_code for page in pages] == [200, 200, 200, 200, 200, 409, 200, 200, 410]
    for page in pages:
        assert_brand_a_only(text(page), w)


def test_brand_bs_rewards_and_store_items_under_brand_as_paths_are_not_found(brand_a, brand_b, two_brands, client):
    w = two_brands
    client.force_login(w.user)
    wallet_before = Wallet.objects.get(user=w.user, brand=brand_b).balance
    orders_before, addresses_before = Order.objects.count(), Address.objects.count()

    beta_moment = earn_moment(brand_b, w.beta_order.item, user_id="beta-user-7")  # B's, still to claim
    answers = [
        client.get(reverse("storefront:claim-item", args=[w.token, "BETA-SPEAKER"])),
        client.get(reverse("storefront:claim-item", args=[claim_token(beta_moment.pk), "ALPHA-BOTTLE"])),
        client.post(
            reverse("storefront:claim-confirm", args=[claim_token(beta_moment.pk), "ALPHA-BOTTLE"]),
            {"address": str(w.address.pk)},
        ),
        client.post(reverse("storefront:claim-item", args=[w.token, "BETA-SPEAKER"]), ADDRESS),
        client.post(
            reverse("storefront:claim-confirm", args=[w.token, "BETA-SPEAKER"]), {"address": str(w.address.pk)}
        ),
        client.get(reverse("storefront:store-buy", args=[brand_a.slug, w.beta_store.pk])),
        client.post(reverse("storefront:store-buy", args=[brand_a.slug, w.beta_store.pk])),
    ]

    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert Order.objects.count() == orders_before
    assert Wallet.objects.get(user=w.user, brand=brand_b).balance == wallet_before
    assert Moment.objects.get(pk=w.moment.pk).status == Moment.objects.get(pk=beta_moment.pk).status == "earned"
    assert Address.objects.count() == addresses_before


# --- Forged, altered, reused, expired and cancelled tokens -------------------------------------

CLAIM_STEPS = {
    "claim": lambda client, token, sku, address: client.get(reverse("storefront:claim", args=[token])),
    "item": lambda client, token, sku, address: client.get(reverse("storefront:claim-item", args=[token, sku])),
    "review": lambda client, token, sku, address: client.get(
        reverse("storefront:claim-item", args=[token, sku]), {"address": address.pk}
    ),
    "new-address": lambda client, token, sku, address: client.post(
        reverse("storefront:claim-item", args=[token, sku]), ADDRESS
    ),
    "confirm": lambda client, token, sku, address: client.post(
        reverse("storefront:claim-confirm", args=[token, sku]), {"address": address.pk}
    ),
}


def spoil(token_state, moment, token):
    """The token as presented, after making the moment's link `token_state`."""
    if token_state == "forged":
        return claim_token(uuid.uuid4())  # well-formed, for a moment that does not exist
    if token_state == "altered":
        return token[:-1] + ("A" if token[-1] != "A" else "B")
    if token_state == "expired":
        Moment.objects.filter(pk=moment.pk).update(expires_at=moment.earned_at)
    elif token_state == "cancelled":
        Moment.objects.filter(pk=moment.pk).update(status="cancelled")
    elif token_state == "reused":  # claimed by another account a minute ago
        first = verified(email="first@example.com")
        services.claim_confirm(
            user=first, moment=moment, item=moment.campaign.rewards.get(), address=AddressFactory(user=first)
        )
    return token


@pytest.mark.parametrize("step", sorted(CLAIM_STEPS))
@pytest.mark.parametrize(
    "token_state, status",
    [("forged", 404), ("altered", 404), ("reused", 410), ("expired", 410), ("cancelled", 410)],
)
def test_a_bad_token_at_any_claim_step_gets_its_page_never_a_500_and_changes_nothing(
    brand_a, client, step, token_state, status
):
    speaker = CatalogItemFactory(sku="SPEAKER", kind="physical")
    moment = earn_moment(brand_a, speaker, user_id="app-user-1")
    token = spoil(token_state, moment, claim_token(moment.pk))
    user = verified(email="second@example.com")
    address = AddressFactory(user=user)
    client.raise_request_exception = False
    client.force_login(user)
    orders, moment_before = Order.objects.count(), Moment.objects.filter(pk=moment.pk).values().get()

    response = CLAIM_STEPS[step](client, token, "SPEAKER", address)

    assert response.status_code == status
    if status == 410:
        assert "This link no longer works" in text(response)
    assert Order.objects.count() == orders
    assert Moment.objects.filter(pk=moment.pk).values().get() == moment_before
    assert list(Address.objects.filter(user=user)) == [address]
    assert not BrandLink.objects.filter(user=user).exists()


@pytest.mark.parametrize("step", ["claim", "item", "new-address", "confirm"])
def test_a_used_link_takes_the_account_that_claimed_it_to_its_order_and_nothing_more(brand_a, client, step):
    speaker = CatalogItemFactory(sku="SPEAKER", kind="physical")
    order = placed_order(brand_a, speaker)
    client.force_login(order.user)

    response = CLAIM_STEPS[step](client, claim_token(order.moment_id), "SPEAKER", order.user.addresses.get())

    assert response.status_code == 302 and response["Location"] == reverse("storefront:order", args=[order.pk])
    assert Order.objects.count() == 1 and order.user.addresses.count() == 1


@pytest.mark.parametrize("token", ["%00", "x" * 5000, "%ED%95%9C%EA%B8%80", "%FF%FE", "' OR '1'='1", ".."])
def test_garbage_tokens_are_a_404(client, token):
    client.raise_request_exception = False
    signed_out = client.get(f"/claim/{token}")
    client.force_login(verified(email="prober@example.com"))

    answers = [signed_out, client.get(f"/claim/{token}/SKU"), client.post(f"/claim/{token}/SKU/confirm")]

    assert [answer.status_code for answer in answers] == [404, 404, 404]


# --- Two sessions confirming the same claim at once ------------------------------------------

ROUNDS = 5


@pytest.mark.needs("postgresql")
@pytest.mark.django_db(transaction=True)
def test_two_sessions_confirming_the_same_claim_at_once_make_one_order(brand_a):
    """The same account in two browsers presses Confirm at the same instant, round after round (the
    first round links the brand user, the others find it linked): one order per moment, one stock
    unit, one shipping fee; the other session is told the reward is claimed, or lands on the order.

    Tried without the lock (claim_confirm's `select_for_update()` removed, then restored byte for
    byte): red every time. Round 1 ended `['409', 'order']`, the loser told "Please try again." by the
    BrandLink unique constraint instead of "already claimed"; every later round ended
    `['500', 'order']`: IntegrityError on storefront_order_moment_id_key. The unique constraints kept
    it to one order; only the lock makes the second confirmation a clean answer."""
    user = verified(email="two-tabs@example.com")
    speaker = CatalogItemFactory(sku="SPEAKER", kind="physical", value=Decimal("20.00"), stock=50)
    address = AddressFactory(user=user)
    sessions = [signed_in_client(user), signed_in_client(user)]

    for done in range(1, ROUNDS + 1):
        moment = earn_moment(brand_a, speaker, user_id="app-user-1")
        url = reverse("storefront:claim-confirm", args=[claim_token(moment.pk), speaker.sku])

        answers = at_once(sessions, lambda session, url=url: session.post(url, {"address": str(address.pk)}))

        order = Order.objects.get(moment=moment)
        order_page = reverse("storefront:order", args=[order.pk])
        outcomes = sorted(
            "order"
            if (answer.status_code, answer.get("Location")) == (302, order_page)
            else "told"
            if answer.status_code == 409 and "already been claimed" in text(answer)
            else f"{answer.status_code}"
            for answer in answers
        )
        assert outcomes in (["order", "order"], ["order", "told"]), (done, outcomes)
        assert Order.objects.count() == done
        assert OrderEvent.objects.filter(order=order).count() == 1
        assert LedgerEntry.objects.filter(kind="shipping_fee", order=order).count() == 1
        assert LedgerEntry.objects.filter(kind="charge", moment=moment).count() == 1
        assert CatalogItem.objects.get(pk=speaker.pk).stock == 50 - done
        assert (Moment.objects.get(pk=moment.pk).status, Moment.objects.get(pk=moment.pk).account_id) == (
            "claimed",
            user.pk,
        )
    assert BrandLink.objects.filter(user=user).count() == 1


# --- One account never sees another's ---------------------------------------------------------


@pytest.fixture
def neighbours(brand_a):
    """Two accounts of the same brand: `owner` with an order, an address, a link and credit;
    `other` with its own, signed in."""
    owner = verified(email="owner@example.com")
    parcel = CatalogItemFactory(sku="OWNERS-PARCEL", name="Owner's Parcel", kind="physical")
    order = placed_order(brand_a, parcel, user=owner, user_id="owner-at-brand")
    Order.objects.filter(pk=order.pk).update(carrier="Owner Post", tracking_number="OWNERTRACK1")
    address = AddressFactory(user=owner, line1="99 Private Lane", phone="+82 10 0000 0000")
    give_credit(owner, brand_a, Decimal("40.00"))
    other = verified(email="other@example.com")
    give_credit(other, brand_a, Decimal("30.00"))
    theirs = CatalogItemFactory(sku="OTHERS-PARCEL", name="Other's Parcel", kind="physical")
    other_moment = earn_moment(brand_a, theirs, user_id=BrandLink.objects.get(user=other).brand_user_id)
    return SimpleNamespace(
        owner=owner,
        order=order,
        address=address,
        link=BrandLink.objects.get(user=owner),
        other=other,
        other_moment=other_moment,
        store_item=StoreItemFactory(brand=brand_a, price=Decimal("10.00")),
        markers=[
            "owner@example.com",
            "Owner&#x27;s Parcel",
            "Owner's Parcel",
            "OWNERTRACK1",
            "Owner Post",
            "99 Private Lane",
            "owner-at-brand",
            "+82 10 0000 0000",
            str(order.pk),
            str(address.pk),
        ],
    )


def state_of(w):
    return (
        list(Order.objects.order_by("pk").values()),
        list(Address.objects.order_by("pk").values()),
        list(BrandLink.objects.order_by("pk").values()),
        list(Wallet.objects.order_by("pk").values()),
    )


# (method, URL, data) with `theirs` the owner's object id, or a made-up one
CROSS_ACCOUNT = {
    "order": lambda w, theirs: ("get", reverse("storefront:order", args=[theirs(w.order)]), {}),
    "address": lambda w, theirs: ("get", reverse("storefront:address-edit", args=[theirs(w.address)]), {}),
    "address-edit": lambda w, theirs: (
        "post",
        reverse("storefront:address-edit", args=[theirs(w.address)]),
        {**ADDRESS, "city": "Mine now"},
    ),
    "address-delete": lambda w, theirs: ("post", reverse("storefront:address-delete", args=[theirs(w.address)]), {}),
    "unlink": lambda w, theirs: ("post", reverse("storefront:unlink", args=[theirs(w.link)]), {}),
    "claim-review-with-their-address": lambda w, theirs: (
        "get",
        reverse("storefront:claim-item", args=[claim_token(w.other_moment.pk), "OTHERS-PARCEL"]),
        {"address": theirs(w.address)},
    ),
    "claim-confirm-to-their-address": lambda w, theirs: (
        "post",
        reverse("storefront:claim-confirm", args=[claim_token(w.other_moment.pk), "OTHERS-PARCEL"]),
        {"address": theirs(w.address)},
    ),
    "store-buy-to-their-address": lambda w, theirs: (
        "post",
        reverse("storefront:store-buy", args=[w.store_item.brand.slug, w.store_item.pk]),
        {"address": theirs(w.address)},
    ),
}


@pytest.mark.parametrize("case", sorted(CROSS_ACCOUNT))
def test_another_accounts_objects_answer_exactly_like_missing_ones_and_stay_unchanged(neighbours, client, case):
    w = neighbours
    client.force_login(w.other)
    before = state_of(w)

    method, url, data = CROSS_ACCOUNT[case](w, lambda obj: obj.pk)
    theirs = getattr(client, method)(url, data)
    method, url, data = CROSS_ACCOUNT[case](w, lambda obj: uuid.uuid4())
    missing = getattr(client, method)(url, data)

    assert theirs.status_code == missing.status_code == 404
    # Byte for byte, but for the CSRF tokens of the page's forms, which Django masks anew in every
    # response (so two answers to the very same request differ there too).
    assert without_csrf_tokens(theirs.content) == without_csrf_tokens(missing.content)
    assert state_of(w) == before


def without_csrf_tokens(content: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b'name="csrfmiddlewaretoken" value=""', content)


def test_no_page_of_an_account_shows_anything_of_another(neighbours, client):
    w = neighbours
    client.force_login(w.other)

    pages = {name: text(client.get(reverse(f"storefront:{name}"))) for name in ["rewards", "account", "export"]}
    pages["store"] = text(client.get(reverse("storefront:store", args=[w.store_item.brand.slug])))
    pages["store-buy"] = text(
        client.get(reverse("storefront:store-buy", args=[w.store_item.brand.slug, w.store_item.pk]))
    )
    pages["claim-address"] = text(
        client.get(reverse("storefront:claim-item", args=[claim_token(w.other_moment.pk), "OTHERS-PARCEL"]))
    )

    assert "other@example.com" in pages["export"]  # the pages are the other account's own
    for name, page in pages.items():
        leaked = [marker for marker in w.markers if marker in page]
        assert not leaked, (name, leaked)
    # and the owner's own pages do show them
    client.force_login(w.owner)
    assert "OWNERTRACK1" in text(client.get(reverse("storefront:rewards")))
    assert "99 Private Lane" in text(client.get(reverse("storefront:account")))


def test_a_brand_user_relinked_to_another_account_brings_none_of_the_first_accounts_rewards(brand_a, client):
    """The first account claimed as brand user U, then unlinked; a second account links U by claiming:
    the first account's claims stay its own (its My rewards, its export), not the second's."""
    card = CatalogItemFactory(sku="CARD-10", name="First Account Card", kind="digital_code")
    first = verified(email="first@example.com")
    first_order = placed_order(brand_a, card, user=first, user_id="shared-user", address=False)
    client.force_login(first)
    client.post(reverse("storefront:unlink", args=[BrandLink.objects.get(user=first).pk]))
    second = verified(email="second@example.com")
    card_20 = CatalogItemFactory(sku="CARD-20", kind="digital_code")
    placed_order(brand_a, card_20, user=second, address=False, user_id="shared-user")
    client.force_login(second)

    rewards, export = text(client.get(reverse("storefront:rewards"))), client.get(reverse("storefront:export")).json()

    first_campaign = first_order.moment.campaign.name
    for leak in (first_campaign, "First Account Card", str(first_order.moment_id), str(first_order.pk)):
        assert leak not in rewards and leak not in str(export)
    client.force_login(first)
    assert "First Account Card" in text(client.get(reverse("storefront:rewards")))  # still the first account's

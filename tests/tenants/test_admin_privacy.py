"""What the admin lets brand staff, and the operator, learn through URLs, pages and autocompletes.

Both rules are walked over the whole admin registry, so a model registered later is covered:

1. Lookups. The brand console filters a list only through the filters its admin declares. Any other
   lookup in the query string (a field hidden from display, a secret, a path through a relation to a
   customer's account) is refused with 400 (Django's DisallowedModelAdminLookup), so no hidden value
   can be read back one character at a time. Secrets (gift-card codes, claim-token and API-key
   hashes, webhook secrets, passwords) are filterable by nobody, the operator included.
2. Privacy. The platform fulfils, not the brand: brand staff (owner, manager, analyst) see an order's
   status, item, shipping country and dates, never who the customer is or where they live. No email,
   name, street or phone shows on any list, change page or autocomplete answer; no search finds a
   customer by them; and no model's __str__ carries them.
"""

import html

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from rewards.models import Campaign, DigitalCode, Donation, Event, LedgerEntry, Moment, Order, Wallet, WebhookDelivery
from rewards.orders.fulfilment import fulfil_order
from storefront.models import Address, BrandLink
from tenants.admin_scoping import BrandScopedAdmin
from tenants.models import ApiKey, Brand, Membership, User
from tests.factories import (
    FACTORY_FOR_MODEL,
    AddressFactory,
    ApiKeyFactory,
    CatalogItemFactory,
    DonationFactory,
    MembershipFactory,
    StoreItemFactory,
)
from tests.storefront.conftest import give_credit, placed_order, verified

pytestmark = pytest.mark.django_db

ROLES = ["owner", "manager", "analyst"]
EMAIL = "zelda.quuxley@private.example"
ADDRESS = {
    "full_name": "Zelda Quuxley",
    "line1": "742 Evergreen Terrace",
    "line2": "Flat 9B",
    "city": "Quahogville",
    "region": "Gyeonggi",
    "postal_code": "ZQ7 9XY",
    "country": "KR",
    "phone": "+82 10 5555 0199",
}
CODE = "GIFT-ZQ-SECRET-7741"
# What brand staff must never see: who the customer is, where they live, and the code they were given.
PRIVATE = [EMAIL, "Zelda", "Quuxley", *(value for key, value in ADDRESS.items() if key != "country"), CODE]
# What a brand might type into a search box to find a person.
SEARCH_TERMS = [EMAIL, ADDRESS["full_name"], ADDRESS["line1"], ADDRESS["phone"]]

# The secrets of the platform, by model: not filterable by anyone, through any path.
SECRETS = {
    User: {"password"},
    Brand: {"webhook_secret", "webhook_previous_secret"},
    ApiKey: {"secret_hash"},
    Moment: {"claim_token_hash"},
    Order: {"digital_code"},
    DigitalCode: {"code"},
}
# The review's findings and their neighbours, spelled out (the registry walk below tries many more).
HIDDEN_FROM_BRANDS = [
    (Order, "digital_code__startswith"),
    (Order, "digital_code"),
    (Order, "code_entry__code__startswith"),
    (Order, "id"),
    (Order, "user"),
    (Order, "user__email__startswith"),
    (Order, "user__addresses__line1__startswith"),
    (Order, "shipping_address__phone__startswith"),
    (Order, "shipping_address__full_name__icontains"),
    (Moment, "claim_token_hash__startswith"),
    (Moment, "account"),
    (Moment, "account__email__startswith"),
    (BrandLink, "user"),
    (BrandLink, "user__id__exact"),
    (BrandLink, "user__email__startswith"),
    (ApiKey, "secret_hash__startswith"),
    (ApiKey, "created_by__password__startswith"),
    (Brand, "webhook_secret__startswith"),
    (Brand, "webhook_previous_secret__startswith"),
    (Membership, "user__password__startswith"),
    (LedgerEntry, "order__digital_code__startswith"),
    (LedgerEntry, "order__user__email__startswith"),
    (LedgerEntry, "moment__claim_token_hash__startswith"),
    (Donation, "moment__account__email__startswith"),
    (Campaign, "brand__webhook_secret__startswith"),
    (WebhookDelivery, "brand__webhook_secret__startswith"),
    (Event, "body_hash__startswith"),
]

BRAND_ADMINS = sorted(
    (model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, BrandScopedAdmin)),
    key=lambda model: model._meta.label,
)
ALL_ADMINS = sorted(admin.site._registry, key=lambda model: model._meta.label)


def _ids(model):
    return model._meta.label


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def text(response):
    return html.unescape(response.content.decode())


def assert_private(page, where):
    leaked = [value for value in PRIVATE if value in page]
    assert not leaked, f"{where} shows {leaked}"


@pytest.fixture
def scene(brand_a, owner_a):
    """Brand A's customer claimed a smart speaker (shipped to a full address with a phone number),
    a gift card (fulfilled with a code from the pool) and store credit; around them, the rows each
    admin of the brand console lists."""
    brand_a.webhook_url = "https://hooks.example/alpha"  # so the claims leave webhook deliveries too
    brand_a.save(update_fields=["webhook_url"])
    customer = verified(email=EMAIL, first_name="Zelda", last_name="Quuxley")
    address = AddressFactory(user=customer, **ADDRESS)
    speaker = CatalogItemFactory(sku="SPEAKER", name="Smart speaker", kind="physical", countries=["KR"])
    parcel = placed_order(brand_a, speaker, user=customer, address=address, user_id="fit-user-77")
    card = CatalogItemFactory(sku="CARD-10", name="Gift card", kind="digital_code")
    DigitalCode.objects.create(item=card, code=CODE)
    card_order = placed_order(brand_a, card, user=customer, address=False)
    fulfil_order(str(card_order.pk))
    give_credit(customer, brand_a, "5.00")
    StoreItemFactory(brand=brand_a)
    DonationFactory(brand=brand_a)
    ApiKeyFactory(brand=brand_a, created_by=owner_a)
    card_order.refresh_from_db()
    assert card_order.digital_code == CODE and parcel.shipping_address["phone"] == ADDRESS["phone"]
    assert BrandLink.objects.filter(user=customer).exists() and Wallet.objects.filter(user=customer).exists()
    return {"customer": customer, "parcel": parcel, "card_order": card_order}


# --- 1. Lookups ------------------------------------------------------------------------------


def test_a_brand_owner_cannot_read_a_gift_card_code_through_the_list_filters(scene, owner_a, client):
    """The review's request: each first character tried answered with one row or none."""
    order = scene["card_order"]
    client.force_login(owner_a)

    answers = {
        guess: client.get(url(Order, "changelist"), {"digital_code__startswith": guess, "id": str(order.pk)})
        for guess in (CODE[:1], "X")
    }

    assert {guess: answer.status_code for guess, answer in answers.items()} == {CODE[:1]: 400, "X": 400}


@pytest.mark.parametrize(
    "model, lookup", HIDDEN_FROM_BRANDS, ids=[f"{m._meta.label}?{lk}" for m, lk in HIDDEN_FROM_BRANDS]
)
def test_brand_staff_cannot_filter_on_hidden_or_secret_fields(model, lookup, scene, owner_a, client):
    client.force_login(owner_a)

    assert client.get(url(model, "changelist"), {lookup: "a"}).status_code == 400


def _lookup_candidates(model, declared_paths, simple_parameters):
    """Names a URL could try: every field of the model (its own and reverse relations) with the
    usual lookups, and every concrete field one relation away."""
    for field in model._meta.get_fields():
        if field.name in declared_paths:
            # A declared filter reads `<path>__exact`, `__isnull`, `__gte`... never these.
            suffixes = ["__startswith", "__regex", "__gt"]
        else:
            suffixes = ["", "__exact", "__startswith", "__isnull"]
        for suffix in suffixes:
            if field.name + suffix not in simple_parameters:
                yield field.name + suffix
        if field.is_relation and field.related_model is not None:
            for far in field.related_model._meta.concrete_fields:
                yield f"{field.name}__{far.name}"


@pytest.mark.parametrize("model", BRAND_ADMINS, ids=_ids)
def test_brand_staff_filter_only_through_the_declared_list_filters(model, brand_a, owner_a, client):
    # Two of the brand's own, so that each related filter has choices enough to be shown.
    for _ in range(2):
        if model is not Brand:
            FACTORY_FOR_MODEL[model](brand=brand_a)
    client.force_login(owner_a)
    changelist = client.get(url(model, "changelist"))
    assert changelist.status_code == 200
    cl = changelist.context["cl"]
    model_admin = admin.site._registry[model]
    declared = [spec[0] if isinstance(spec, (list, tuple)) else spec for spec in model_admin.list_filter]
    simple = {getattr(spec, "parameter_name", None) for spec in model_admin.list_filter}

    # Every link of the filter sidebar still works...
    links = {choice["query_string"] for spec in cl.filter_specs for choice in spec.choices(cl)}
    for link in links:
        assert client.get(url(model, "changelist") + link).status_code == 200, link
    # ...and so do the admin's own parameters, which are not lookups.
    for params in ({"o": "1"}, {"q": "x"}, {"p": "1"}, {"e": "1"}, {"_facets": "1"}):
        assert client.get(url(model, "changelist"), params).status_code == 200, params
    assert client.get(url(model, "changelist"), {"_changelist_filters": "o=1"}).status_code != 400
    # Anything else is refused.
    accepted = [
        name
        for name in _lookup_candidates(model, {path for path in declared if isinstance(path, str)}, simple)
        if client.get(url(model, "changelist"), {name: "a"}).status_code != 400
    ]
    assert not accepted, f"{model._meta.label} filters on {accepted}"


def _secret_paths(model):
    """Every way a URL could reach a secret from `model`: its own, and one relation away."""
    for name in SECRETS.get(model, ()):
        yield name
    for field in model._meta.get_fields():
        if field.is_relation and field.related_model in SECRETS:
            for name in SECRETS[field.related_model]:
                yield f"{field.name}__{name}"


def test_the_operator_cannot_filter_on_secrets_either(scene, operator, client):
    client.force_login(operator)
    tried = 0

    for model in ALL_ADMINS:
        for path in _secret_paths(model):
            for suffix in ("", "__startswith", "__isnull"):
                answer = client.get(url(model, "changelist"), {path + suffix: CODE[:1]})
                assert answer.status_code == 400, f"the operator filters {model._meta.label} on {path + suffix}"
                tried += 1
    assert tried > 50


def test_the_operator_keeps_broad_lookups_and_the_brand_filter(scene, brand_a, operator, client):
    client.force_login(operator)
    parcel = scene["parcel"]

    by_country = client.get(url(Order, "changelist"), {"shipping_address__country": "KR"})
    by_brand = client.get(url(Order, "changelist"), {"brand__id__exact": str(brand_a.pk)})
    by_pool = client.get(url(DigitalCode, "changelist"), {"order__isempty": "0"})

    assert parcel in by_country.context["cl"].result_list
    assert parcel in by_brand.context["cl"].result_list
    assert [code.order_id for code in by_pool.context["cl"].result_list] == [scene["card_order"].pk]


# --- 2. Privacy ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_brand_staff_never_see_who_the_customer_is_or_where_they_live(role, scene, brand_a, client):
    client.force_login(MembershipFactory(brand=brand_a, role=role).user)
    opened = set()

    for model, model_admin in admin.site._registry.items():
        changelist = client.get(url(model, "changelist"))
        if not isinstance(model_admin, BrandScopedAdmin):
            assert changelist.status_code == 403, f"brand staff reach the operator's {model._meta.label}"
            continue
        assert changelist.status_code == 200, model
        assert_private(text(changelist), f"the {model._meta.label} list")
        for obj in changelist.context["cl"].result_list:
            page = client.get(url(model, "change", obj.pk))
            assert page.status_code == 200
            assert_private(text(page), f"the {model._meta.label} page of {obj.pk}")
            opened.add(model)

    assert {Order, Moment, BrandLink, LedgerEntry, Event, WebhookDelivery} <= opened
    # What the brand does see of a parcel: its item, status, shipping country and dates.
    page = text(client.get(url(Order, "change", scene["parcel"].pk)))
    assert "Smart speaker" in page and "placed" in page and "South Korea" in page


def _autocomplete_sources():
    """Every relation whose target has an admin: all the autocomplete view asks for."""
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model in admin.site._registry:
                yield model, field


@pytest.mark.parametrize("role", ROLES)
def test_the_autocomplete_answers_brand_staff_with_nothing_personal(role, scene, brand_a, client):
    client.force_login(MembershipFactory(brand=brand_a, role=role).user)
    answered = set()

    for model, field in _autocomplete_sources():
        where = f"autocomplete of {model._meta.label}.{field.name}"
        params = {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field.name}
        for term in ["", *SEARCH_TERMS]:
            response = client.get(reverse("admin:autocomplete"), {**params, "term": term})
            assert response.status_code in (200, 403, 404), where
            if response.status_code != 200:
                break
            assert_private(response.content.decode(), where)
            if term:
                assert response.json()["results"] == [], f"{where} finds {term!r}"
            elif response.json()["results"]:
                answered.add(field.related_model)

    assert Order in answered  # the order autocomplete answered, with the brand's orders


@pytest.mark.parametrize("role", ROLES)
def test_brand_staff_cannot_find_a_customer_by_email_name_street_or_phone(role, scene, brand_a, client):
    client.force_login(MembershipFactory(brand=brand_a, role=role).user)

    for model in BRAND_ADMINS:
        for term in SEARCH_TERMS:
            response = client.get(url(model, "changelist"), {"q": term})
            assert response.status_code == 200
            assert list(response.context["cl"].result_list) == [], f"{model._meta.label} finds {term!r}"
    # The brand's own user id is the brand's data: that search works.
    found = client.get(url(Order, "changelist"), {"q": "fit-user-77"}).context["cl"].result_list
    assert scene["parcel"] in found


def test_no_models_str_carries_personal_data(scene):
    """Whatever names an object (admin titles, breadcrumbs, autocomplete answers, messages, the admin
    log) gets no email, name, street or phone. The account itself (User, whose name is its email) is
    the one exception: only the operator's pages list accounts."""
    people = {value for user in User.objects.all() for value in (user.email, user.first_name, user.last_name)}
    places = {
        value
        for address in Address.objects.all()
        for value in (address.full_name, address.line1, address.line2, address.city, address.region, address.phone)
    }
    personal = {value for value in people | places | {CODE} if value}
    checked = set()

    for app_label in ("tenants", "rewards", "storefront"):
        for model in apps.get_app_config(app_label).get_models():
            if model is User:
                continue
            for obj in model._default_manager.all():
                leaked = [value for value in personal if value in str(obj)]
                assert not leaked, f"str() of a {model._meta.label} shows {leaked}"
                checked.add(model)

    assert {Order, Wallet, Address, BrandLink, Membership, Moment, DigitalCode} <= checked


def test_the_operator_still_sees_where_to_ship(scene, operator, client):
    client.force_login(operator)
    parcel = scene["parcel"]

    page = text(client.get(url(Order, "change", parcel.pk)))
    pick_list = (
        client.post(url(Order, "changelist"), {"action": "export_pick_list", "_selected_action": [str(parcel.pk)]})
        .getvalue()
        .decode()
    )

    for value in (ADDRESS["full_name"], ADDRESS["line1"], ADDRESS["phone"], EMAIL):
        assert value in page
    for value in (ADDRESS["full_name"], ADDRESS["line1"], ADDRESS["phone"]):
        assert value in pick_list

"""Brand A's staff never see or touch brand B's objects in the admin, and the other way round.

The tests walk the admin registry: a tenant model registered later is covered without a new test
(it only needs a factory in tests/factories.py, which the first test insists on).
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.forms import ModelChoiceField
from django.forms.models import model_to_dict
from django.urls import reverse

from rewards.models import Moment
from tenants.admin_scoping import BrandScopedAdmin, scope_choices
from tenants.models import ApiKey, AuditEntry, Brand, BrandOwned, Membership, User
from tests.factories import FACTORY_FOR_MODEL, UserFactory

pytestmark = pytest.mark.django_db

TENANT_MODELS = sorted(
    # The audit trail too: its brand may be null (the platform's entries), but a brand's are its own.
    (model for model in admin.site._registry if model in {Brand, AuditEntry} or issubclass(model, BrandOwned)),
    key=lambda model: model._meta.label,
)
DIRECTIONS = ["a_looks_at_b", "b_looks_at_a"]


def _ids(model):
    return model._meta.label


def make_for(model, brand):
    """An object of `model` belonging to `brand` (for Brand itself: the brand)."""
    return brand if model is Brand else FACTORY_FOR_MODEL[model](brand=brand)


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture(params=DIRECTIONS)
def scene(request, brand_a, brand_b, owner_a, owner_b, client):
    """The viewer is an owner of one brand; `other` is the other brand's side."""
    own_brand, own_owner, other_brand = (
        (brand_a, owner_a, brand_b) if request.param == "a_looks_at_b" else (brand_b, owner_b, brand_a)
    )
    client.force_login(own_owner)
    return {"client": client, "own_brand": own_brand, "other_brand": other_brand, "viewer": own_owner}


def snapshot(obj):
    """What an object looks like in the database, to prove an attempt changed nothing."""
    fresh = type(obj)._default_manager.filter(pk=obj.pk).first()
    return fresh and model_to_dict(fresh, exclude=["logo"])


def test_every_tenant_model_in_the_admin_is_scoped_and_has_a_factory():
    assert TENANT_MODELS, "the admin registers no tenant model"
    for model in TENANT_MODELS:
        assert isinstance(admin.site._registry[model], BrandScopedAdmin), f"{model} admin is not brand-scoped"
        assert model is Brand or model in FACTORY_FOR_MODEL, f"add a factory for {model} to tests/factories.py"


def test_every_tenant_owned_model_has_a_non_null_brand():
    owned = [model for model in apps.get_models() if issubclass(model, BrandOwned)]
    assert owned
    for model in owned:
        field = model._meta.get_field("brand")
        assert field.related_model is Brand and not field.null, model


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_change_list_shows_only_the_own_brand(model, scene):
    own = make_for(model, scene["own_brand"])
    other = make_for(model, scene["other_brand"])

    response = scene["client"].get(url(model, "changelist"))

    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert own.pk in shown
    assert other.pk not in shown


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_object_pages_of_another_brand_are_404_like_missing_ones(model, scene):
    other = make_for(model, scene["other_brand"])
    before = snapshot(other)
    model_admin = admin.site._registry[model]
    object_urls = [
        reverse(f"admin:{pattern.name}", args=[other.pk])
        for pattern in model_admin.get_urls()
        if pattern.name and "object_id" in str(pattern.pattern)
    ]
    assert len(object_urls) >= 3  # change, delete, history at least

    for object_url in object_urls:
        client = scene["client"]
        assert client.get(object_url).status_code == 404, object_url
        assert client.post(object_url, {"name": "taken over", "confirm": "yes", "post": "yes"}).status_code == 404

    assert snapshot(other) == before


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_bulk_actions_cannot_reach_another_brand(model, scene, rf):
    other = make_for(model, scene["other_brand"])
    before = snapshot(other)
    request = rf.get("/")
    request.user, request.session = scene["viewer"], {}
    # Every action the viewer has, and Django's delete forged into the form when it is not one.
    actions = {*admin.site._registry[model].get_actions(request), "delete_selected"}

    for action in actions:
        scene["client"].post(
            url(model, "changelist"),
            # Every confirmation any action asks for, filled in: the attempt goes all the way.
            {"action": action, ACTION_CHECKBOX_NAME: [str(other.pk)], "confirm": "yes", "post": "yes", "reason": "r"},
        )
        assert snapshot(other) == before, f"action {action} changed another brand's {model._meta.verbose_name}"


def test_the_cancel_action_does_act_on_the_brands_own_moments(brand_a, owner_a, client):
    """The isolation test above proves something only if the same POST works on one's own rows."""
    own = FACTORY_FOR_MODEL[Moment](brand=brand_a)
    client.force_login(owner_a)

    client.post(
        url(Moment, "changelist"),
        {"action": "cancel", ACTION_CHECKBOX_NAME: [str(own.pk)], "confirm": "yes", "post": "yes", "reason": "r"},
    )

    own.refresh_from_db()
    assert own.status == "cancelled"


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_a_tampered_selection_is_refused_with_a_message(model, scene):
    response = scene["client"].post(
        url(model, "changelist"), {"action": "delete_selected", ACTION_CHECKBOX_NAME: ["garbage"]}, follow=True
    )

    assert response.status_code == 200
    assert "not valid" in response.content.decode()


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_search_never_finds_another_brand(model, scene):
    other = make_for(model, scene["other_brand"])
    search_fields = admin.site._registry[model].search_fields
    assert search_fields, f"{model} admin has no search"

    for path in search_fields:
        value = _value_at(other, path.lstrip("^=@"))
        response = scene["client"].get(url(model, "changelist"), {"q": str(value)})
        assert other.pk not in {obj.pk for obj in response.context["cl"].result_list}, path


def _value_at(obj, path):
    for part in path.split("__"):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_filters_offer_only_what_the_own_brand_points_to(model, scene):
    # Two of the brand's own, so that each related filter has choices enough to be shown.
    own = [make_for(model, scene["own_brand"]), make_for(model, scene["own_brand"])]
    make_for(model, scene["other_brand"])
    response = scene["client"].get(url(model, "changelist"))
    own_rows = model._default_manager.filter(pk__in=[obj.pk for obj in own])
    related_specs = [
        spec for spec in response.context["cl"].filter_specs if getattr(getattr(spec, "field", None), "is_relation", 0)
    ]

    for spec in related_specs:
        offered = {str(value) for value, _label in spec.lookup_choices}
        allowed = {str(value) for value in own_rows.values_list(spec.field_path, flat=True)}
        assert offered <= allowed, f"filter {spec.field_path} offers another brand's objects"
    declared = [f for f in admin.site._registry[model].list_filter if isinstance(f, str) and "brand" not in f]
    assert len(related_specs) == len([f for f in declared if model._meta.get_field(f).is_relation])


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_forms_have_no_brand_field_and_offer_only_own_choices(model, scene):
    own = make_for(model, scene["own_brand"])
    model_admin = admin.site._registry[model]
    response = scene["client"].get(url(model, "change", own.pk))
    assert response.status_code == 200
    if "adminform" not in response.context:  # a page without a form (a campaign's report) offers no choice
        assert not response.context["has_change_permission"] and '<form method="post"' not in response.text
        return
    form = response.context["adminform"].form

    assert "brand" not in form.fields
    for name, field in form.fields.items():
        if isinstance(field, ModelChoiceField):
            for choice in field.queryset:
                assert _belongs_to(choice, scene["own_brand"]), f"{model_admin}.{name} offers {choice!r}"


def _belongs_to(obj, brand):
    if isinstance(obj, Brand):
        return obj == brand
    if isinstance(obj, BrandOwned):
        return obj.brand_id == brand.pk
    if isinstance(obj, User):
        return Membership.objects.filter(user=obj, brand=brand).exists()
    return getattr(obj, "platform_wide", False)  # the operator's catalog is offered to every brand


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_the_operator_sees_every_brand_and_can_filter_by_brand(model, brand_a, brand_b, operator, client):
    a_obj, b_obj = make_for(model, brand_a), make_for(model, brand_b)
    client.force_login(operator)

    response = client.get(url(model, "changelist"))
    assert {a_obj.pk, b_obj.pk} <= {obj.pk for obj in response.context["cl"].result_list}
    assert client.get(url(model, "change", b_obj.pk)).status_code == 200

    if model is not Brand:
        filtered = client.get(url(model, "changelist"), {"brand__id__exact": str(brand_a.pk)})
        shown = {obj.pk for obj in filtered.context["cl"].result_list}
        assert a_obj.pk in shown and b_obj.pk not in shown
        assert "brand" in [getattr(spec, "field_path", None) for spec in response.context["cl"].filter_specs]


@pytest.mark.parametrize("model", TENANT_MODELS, ids=_ids)
def test_analysts_only_read(model, brand_a, client):
    analyst = FACTORY_FOR_MODEL[Membership](brand=brand_a, role="analyst").user
    FACTORY_FOR_MODEL[Membership](brand=brand_a, role="owner")  # the brand keeps its owner
    obj = make_for(model, brand_a)
    before = snapshot(obj)
    client.force_login(analyst)

    assert client.get(url(model, "changelist")).status_code == 200
    page = client.get(url(model, "change", obj.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert client.post(url(model, "change", obj.pk), {"name": "changed", "role": "owner"}).status_code == 403
    assert client.get(url(model, "add")).status_code == 403
    assert client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert snapshot(obj) == before


def test_staff_without_a_membership_see_nothing(brand_a, owner_a, client):
    client.force_login(UserFactory(is_staff=True))

    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    for model in TENANT_MODELS:
        assert client.get(url(model, "changelist")).status_code == 302


def test_foreign_key_choices_offer_only_the_brands_rows_itself_and_its_staff(brand_a, brand_b, owner_a, owner_b, rf):
    """Every foreign key of a tenant form goes through scope_choices, whatever it points to."""
    key_a, key_b = FACTORY_FOR_MODEL[ApiKey](brand=brand_a), FACTORY_FOR_MODEL[ApiKey](brand=brand_b)
    request = rf.get("/")
    request.user, request.session = owner_a, {}
    base = BrandScopedAdmin(Membership, admin.site)

    def choices(model, field):
        return set(base.formfield_for_foreignkey(model._meta.get_field(field), request).queryset)

    assert choices(ApiKey, "created_by") == {owner_a}  # staff of A only, not B's nor key creators
    assert choices(Membership, "brand") == {brand_a}
    assert scope_choices(ApiKey.objects.all(), brand_a).get() == key_a
    assert key_b not in scope_choices(ApiKey.objects.all(), brand_a)

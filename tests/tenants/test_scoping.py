"""Brand scoping is enforced, not remembered (tenants/scoping.py): every brand-owned model refuses
a query made outside a brand scope, narrows itself to the scope's brand inside one, and every
surface (a request, a task) starts from an empty scope, whatever ran before it in the thread."""

import uuid

import pytest
from celery import shared_task
from django.apps import apps
from django.db.models.lookups import Exact
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path
from rest_framework.test import APIClient

from config.scopes import fresh_scope
from rewards import tasks
from rewards.campaigns import services as campaigns
from rewards.models import Campaign
from rewards.moments import services as moments
from rewards.orders import fulfilment
from rewards.webhooks import services as webhooks
from tenants.models import Brand, BrandOwned
from tenants.scoping import ScopeError, across_brands, brand_scope, row_scope
from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory, MomentFactory

PROJECT_APPS = {"tenants", "rewards", "storefront"}


def is_scoped(model) -> bool:
    return hasattr(model._default_manager, "with_scopes_disabled")  # django-scopes' ScopedManager


SCOPED = sorted((model for model in apps.get_models() if is_scoped(model)), key=lambda m: m._meta.label)


def unscoped_queries(model):
    """Every way a surface reads or moves rows, each of which must refuse outside a scope."""
    return {
        "all": lambda: list(model.objects.all()),
        "filter": lambda: model.objects.filter(pk=uuid.uuid4()).exists(),
        "count": lambda: model.objects.count(),
        "get": lambda: model.objects.get(pk=uuid.uuid4()),
        "first": lambda: model.objects.first(),
        "values": lambda: list(model.objects.values_list("pk")),
        "update": lambda: model.objects.update(brand=None),
        "delete": lambda: model.objects.all().delete(),
        "lock": lambda: list(model.objects.select_for_update()),
    }


def brand_filter_of(queryset):
    """The brand the queryset's WHERE narrows to by the scope, or None."""
    for node in queryset.query.where.children:
        if isinstance(node, Exact) and getattr(node.lhs, "target", None) is not None:
            if node.lhs.target.name == "brand":
                return node.rhs
    return None


def test_every_project_model_owned_by_a_brand_is_scoped():
    """Owned by a brand: a relation to a brand (even a nullable one: an audit entry is a brand's, or
    the platform's alone), or a required one to a row so owned (a campaign's reward links, an order's
    timeline). A model added later that a brand owns cannot skip the scope; the platform's own (the
    catalog, its stock ledger and code pools: `platform_wide`) are not a brand's."""
    owned = []
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS or getattr(model, "platform_wide", False):
            continue
        owners = [
            field.related_model
            for field in model._meta.fields
            if field.many_to_one or field.one_to_one
            if field.related_model is Brand or (not field.null and is_scoped(field.related_model))
        ]
        if owners:
            owned.append(model._meta.label)
    assert sorted(owned) == sorted(model._meta.label for model in SCOPED)
    assert {"rewards.OrderEvent", "rewards.CampaignReward", "rewards.Moment", "tenants.ApiKey"} <= set(owned)
    assert all(
        issubclass(model, BrandOwned)
        or model._meta.label in {"rewards.OrderEvent", "rewards.CampaignReward", "tenants.AuditEntry"}
        for model in SCOPED
    )


@pytest.mark.django_db
@pytest.mark.parametrize("model", SCOPED, ids=lambda model: model._meta.label)
def test_an_unscoped_query_on_a_brand_owned_model_raises(model):
    brand = BrandFactory()
    with fresh_scope():
        for name, query in unscoped_queries(model).items():
            with pytest.raises(ScopeError):
                query()
                pytest.fail(f"{model._meta.label}.objects {name} ran outside a brand scope")
        # Through the brand's reverse relation too (Django builds it from the scoped manager).
        for related in Brand._meta.related_objects:
            if related.related_model is model and related.field.name == "brand":
                with pytest.raises(ScopeError):
                    list(getattr(brand, related.get_accessor_name()).all())


@pytest.mark.django_db
@pytest.mark.parametrize("model", SCOPED, ids=lambda model: model._meta.label)
def test_in_a_brand_scope_every_query_is_narrowed_to_that_brand(model):
    brand = BrandFactory()
    with fresh_scope(), brand_scope(brand):
        assert brand_filter_of(model.objects.all()) == brand.pk
        assert brand_filter_of(model.objects.filter(pk=uuid.uuid4())) == brand.pk
        list(model.objects.all())  # and the query runs


@pytest.mark.django_db
def test_a_brand_scope_sees_its_rows_only_and_across_brands_sees_all():
    mine, theirs = CampaignFactory(), CampaignFactory()
    with fresh_scope():
        with brand_scope(mine.brand):
            assert list(Campaign.objects.values_list("pk", flat=True)) == [mine.pk]
            assert not Campaign.objects.filter(pk=theirs.pk).exists()  # "not yours" is "not there"
        with across_brands():
            assert set(Campaign.objects.values_list("pk", flat=True)) == {mine.pk, theirs.pk}


@pytest.mark.django_db
def test_a_brand_scope_needs_a_brand():
    """scope(brand=None) would filter nothing: never by accident."""
    with pytest.raises(ScopeError):
        with brand_scope(None):
            pass


@pytest.mark.django_db
def test_row_scope_enters_the_brand_of_the_row_and_reports_a_missing_one():
    moment = MomentFactory()
    other = MomentFactory()
    with fresh_scope():
        with row_scope(type(moment), moment.pk) as found:
            assert found
            assert moment.pk in type(moment).objects.values_list("pk", flat=True)
            assert not type(moment).objects.filter(pk=other.pk).exists()
        with row_scope(type(moment), uuid.uuid4()) as found:
            assert not found
            with pytest.raises(ScopeError):
                type(moment).objects.count()


def reads_campaigns_without_a_scope(request):
    return HttpResponse(str(Campaign.objects.count()))


urlpatterns = [path("probe/", reads_campaigns_without_a_scope)]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_a_request_does_not_inherit_the_scope_of_the_code_that_made_it(client):
    """The test itself reads across brands; the request it makes starts with none."""
    assert Campaign.objects.count() == 0  # the test may
    with pytest.raises(ScopeError):
        client.get("/probe/")


@shared_task
def count_campaigns_without_a_scope():
    return Campaign.objects.count()


@pytest.mark.django_db
def test_a_task_does_not_inherit_the_scope_of_the_code_that_ran_it():
    with pytest.raises(ScopeError):
        count_campaigns_without_a_scope.apply(throw=True)
    with pytest.raises(ScopeError):
        count_campaigns_without_a_scope()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sweep", "task"),
    [
        (moments.moments_expire, tasks.expire_moments),
        (campaigns.campaigns_end_due, tasks.end_campaigns),
        (campaigns.month_roll, tasks.month_roll),
        (webhooks.due_deliveries, tasks.send_due_webhooks),
        (fulfilment.stale_orders, tasks.sweep_orders),
    ],
    ids=lambda value: value.__name__,
)
def test_the_beats_sweeps_run_across_brands_only_when_their_task_says_so(sweep, task):
    CampaignFactory(active=True)
    with fresh_scope(), pytest.raises(ScopeError):
        sweep()
    assert task() >= 0  # the task says it (across_brands) and runs


@pytest.mark.django_db
def test_the_api_runs_in_the_scope_of_the_keys_brand():
    """A key of one brand reads its campaigns only; another brand's campaign is a 404."""
    mine, theirs = CampaignFactory(), CampaignFactory()
    key = ApiKeyFactory(brand=mine.brand)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    listed = client.get("/api/v1/campaigns")
    assert listed.status_code == 200
    assert [c["slug"] for c in listed.json()["results"]] == [mine.slug]
    assert client.get(f"/api/v1/campaigns/{theirs.slug}").status_code == 404

"""Brand scoping, enforced: a query on a brand-owned model outside a brand scope raises.

Every `BrandOwned` model's manager is django-scopes' `ScopedManager` on the `brand` dimension. Code
reads tenant data only inside `brand_scope(brand)` — where every query on those models is narrowed to
that brand by itself — or inside `across_brands()`, which says in the code that a read spans brands
on purpose (the operator's console, a beat sweep, a customer's own rows in every brand, an API key or
a claim token that names its brand). Anywhere else the query raises `ScopeError`, in tests as in
production: forgetting the scope is a crash in the first test, never a leak.

Scopes are entered once per surface: the API's authentication (the key's brand), the admin (the
brand the staff user works in; the operator explicitly across brands), the storefront's brand pages
(the claim's or the store's brand), each Celery task (the brand of the row it was given, or across
brands for a sweep). Each request and each task starts from an empty scope (config/scopes.py), so
nothing carries over from whatever ran before in the same thread.
"""

from contextlib import contextmanager

from django.db import models
from django_scopes import ScopedManager, ScopeError, scope, scopes_disabled
from django_scopes.state import state

__all__ = [
    "ScopeError",
    "across_brands",
    "brand_scope",
    "enter_brand_scope",
    "in_row_scope",
    "rendered",
    "row_scope",
    "scoped_manager",
]


def scoped_manager(manager_class=models.Manager, *, brand_path: str = "brand"):
    """The manager of a brand-owned model: queries need a brand scope (or `across_brands`). A model
    owned through its parent (an order's events) names the path to the brand (`order__brand`)."""
    return ScopedManager(brand=brand_path, _manager_class=manager_class)


def brand_scope(brand):
    """Read one brand's rows: every query on a brand-owned model is narrowed to it."""
    return scope(brand=_brand_id(brand))


def across_brands():
    """Read across brands, on purpose: the caller's docstring says why."""
    return scopes_disabled()


@contextmanager
def row_scope(model, pk):
    """The scope of the brand that owns one row, for a task given only the row's id; yields False
    (and enters no scope) when the row is gone. The row is found across brands: its id names it."""
    with across_brands():
        brand_id = model.objects.filter(pk=pk).values_list("brand_id", flat=True).first()
    if brand_id is None:
        yield False
        return
    with brand_scope(brand_id):
        yield True


def in_row_scope(model, pk, service, **kwargs):
    """A task's body: `service(**kwargs)` in the scope of the brand that owns the row whose id the
    task was given; nothing (None) when the row is gone."""
    with row_scope(model, pk) as found:
        return service(**kwargs) if found else None


def enter_brand_scope(brand) -> None:
    """Narrow the rest of the current request to one brand.

    For the API's authentication, which learns the brand midway through the request, inside a
    scope it cannot wrap in a `with` (config.scopes.FreshScopeMiddleware ends it)."""
    state.set({"_enabled": True, "brand": _brand_id(brand)})


def rendered(response):
    """The view's response, rendered now: a TemplateResponse otherwise renders after the view has
    returned, outside the scope the view ran in (its template's queries would raise)."""
    if hasattr(response, "render") and not response.is_rendered:
        response.render()
    return response


def _brand_id(brand):
    brand_id = getattr(brand, "pk", brand)
    if brand_id is None:
        # scope(brand=None) would mean "no filter": every brand's rows. Never by accident.
        raise ScopeError("A brand scope needs a brand.")
    return brand_id

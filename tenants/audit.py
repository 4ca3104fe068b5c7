"""The audit trail's one writer: every staff action that moves money, stock or a campaign records
who did it, when, to what, and the changed fields' values before and after (DESIGN.md §6).

Services call `record` inside the transaction of the action itself, so an action that rolls back
leaves no entry and one that commits always has its entry. The actor is a staff user (the admin),
an API key (the API: `request.auth`), or None: the platform itself (the beat's sweeps, a management
command, the demo).
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db import models, transaction
from django.utils.functional import Promise
from django_countries.fields import Country

from tenants.models import ApiKey, AuditEntry, Brand, User

Action = AuditEntry.Action


def record(
    *,
    actor: User | ApiKey | None,
    brand: Brand | None,
    action: str,
    obj: models.Model,
    before: dict,
    after: dict,
    brand_hidden: frozenset = frozenset(),
    identifying: frozenset = frozenset(),
) -> AuditEntry:
    """Record `action` on `obj`: of `before` and `after` only the fields whose values differ are
    kept, as JSON-safe text, and the `identifying` ones whatever their values (what names the object
    beyond its id: the person a membership is of). `brand` None: the platform's own (the operator's
    entry alone). `brand_hidden`: fields the brand is not shown (the console shows a staff member's
    email to the brand while that person is on its staff, DESIGN.md §6). Never pass a secret or an
    end user's personal data; a model's `secret_fields` are refused outright."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("An audit entry is written in the transaction of the action it records.")
    secrets = (before.keys() | after.keys()) & getattr(obj, "secret_fields", frozenset())
    if secrets:
        raise ValueError(f"an audit entry never holds a secret: {sorted(secrets)}")
    before, after = {name: plain(value) for name, value in before.items()}, {n: plain(v) for n, v in after.items()}
    changed = {name for name in before.keys() | after.keys() if before.get(name, ...) != after.get(name, ...)}
    changed |= identifying & (before.keys() | after.keys())
    return AuditEntry.objects.create(
        brand=brand,
        **_actor_fields(actor, brand),
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before={name: value for name, value in before.items() if name in changed},
        after={name: value for name, value in after.items() if name in changed},
        brand_hidden=sorted(brand_hidden & changed),
    )


def _actor_fields(actor, brand) -> dict:
    if actor is None:
        return {"actor_kind": AuditEntry.ActorKind.SYSTEM}
    if isinstance(actor, ApiKey):
        if brand is None or actor.brand_id != brand.pk:
            raise ValueError("an API key acts for its own brand only")
        return {"actor_kind": AuditEntry.ActorKind.API_KEY, "api_key": actor.prefix}
    # Brand staff act in their own brand only (the console's scoping): anyone else is the operator.
    kind = AuditEntry.ActorKind.OPERATOR if actor.is_superuser else AuditEntry.ActorKind.STAFF
    return {"actor_kind": kind, "actor": actor, "actor_label": actor.email}


def plain(value):
    """A value as JSON holds it: money and dates as text, countries as codes, rows as their ids."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (Decimal, UUID, Promise, timedelta)):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Country):
        return value.code
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, Iterable):  # a list, or several countries (django-countries' own sequence)
        return [plain(item) for item in value]
    raise TypeError(f"no audit form for {type(value).__name__}")

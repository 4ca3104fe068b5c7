"""The operator's catalog: physical stock moved only through its ledger, and digital code pools."""

import csv
import io
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from rewards.catalog.models import CatalogItem, DigitalCode, PlatformPolicy, StockMovement
from rewards.catalog.selectors import catalog_changed, platform_policy_changed
from rewards.fields import money
from tenants import audit
from tenants.models import User

POLICY_FIELDS = ["min_cpa", "max_campaign_budget", "excluded_countries", "shipping_fee", "free_shipping_from"]
# An item's columns the operator edits in the console, as the audit trail keeps them; the count is
# the stock ledger's (its own entries), the picture kept by its file name.
ITEM_FIELDS = [
    "sku",
    "name",
    "description",
    "kind",
    "value",
    "cost",
    "image",
    "countries",
    "charity",
    "fulfilment_url",
    "active",
]


def policy_save(*, policy: PlatformPolicy, actor: User | None) -> PlatformPolicy:
    """Save the platform policy as the operator edited it; the changed rules go in the audit trail
    (no brand's: the operator's alone), and every process reads the new policy."""
    with transaction.atomic():
        was = PlatformPolicy.objects.select_for_update().filter(pk=policy.pk).first()
        policy.save()
        audit.record(
            actor=actor,
            brand=None,
            action=audit.Action.POLICY_CHANGE,
            obj=policy,
            before={name: getattr(was, name) for name in POLICY_FIELDS} if was else {},
            after={name: getattr(policy, name) for name in POLICY_FIELDS},
        )
    platform_policy_changed()
    return policy


def catalog_item_save(*, item: CatalogItem, actor: User | None) -> CatalogItem:
    """Save an item as the operator edited it in the console, in the audit trail (the operator's
    alone) with the fields that changed. A new physical item's count goes in as its opening line of
    the stock ledger; an existing item's every column is written but its count (claims move it
    meanwhile: a form would write back a stale one) and its kind (chosen once)."""
    with transaction.atomic():
        if item._state.adding:
            opening = 0
            if item.kind == CatalogItem.Kind.PHYSICAL:
                opening, item.stock = item.stock or 0, 0
            item.save(force_insert=True)
            _audit_item(actor, audit.Action.CATALOG_ITEM_CREATE, item, before={})
            if opening:
                stock_open(item=item, count=opening, actor=actor)
        else:
            was = CatalogItem.objects.select_for_update().get(pk=item.pk)
            item.kind = was.kind
            item.save(
                update_fields=[f.name for f in item._meta.concrete_fields if f.name not in {"id", "kind", "stock"}]
            )
            _audit_item(actor, audit.Action.CATALOG_ITEM_UPDATE, item, before=_item_fields(was))
    catalog_changed()
    return item


def _audit_item(actor, action: str, item: CatalogItem, before: dict) -> None:
    after = _item_fields(item)
    if before != after:  # saved as it was: nothing to record
        audit.record(actor=actor, brand=None, action=action, obj=item, before=before, after=after)


def _item_fields(item: CatalogItem) -> dict:
    # Amounts as typed ("10") or read back ("10.00") in one form; the picture by its file's name.
    special = {"value": str(money(item.value)), "cost": str(money(item.cost)), "image": item.image.name or ""}
    return {name: special[name] if name in special else audit.plain(getattr(item, name)) for name in ITEM_FIELDS}


def stock_adjust(*, item: CatalogItem, change: int, reason: str, note: str = "", actor: User | None):
    """The operator's "adjust by ±N, with a reason": goods received, a count corrected, units
    damaged. Never below zero; a line in the stock ledger and an entry in the audit trail. Raises
    ValidationError if it cannot."""
    if item.kind != CatalogItem.Kind.PHYSICAL:
        raise ValidationError(f"{item.sku} is not a physical item: it has no stock.", code="invalid")
    if not change:
        raise ValidationError("Say by how many units the stock changes.", code="required")
    if reason not in {StockMovement.Reason.RECEIVED, StockMovement.Reason.CORRECTION, StockMovement.Reason.DAMAGED}:
        raise ValidationError("Choose why the stock changes.", code="invalid")
    movement = _stock_change(item=item, change=change, reason=reason, note=note.strip()[:240], actor=actor)
    if movement is None:
        raise ValidationError(f"Only {_stock_of(item)} on hand: the stock cannot go below zero.", code="out_of_stock")
    return movement


def stock_open(*, item: CatalogItem, count: int, actor: User | None) -> StockMovement | None:
    """A new physical item's first count: its opening line in the stock ledger (and the audit trail)."""
    return _stock_change(item=item, change=count, reason=StockMovement.Reason.OPENING, actor=actor) if count else None


def _stock_change(*, item, change: int, reason: str, actor, note: str = "") -> StockMovement | None:
    """A change of stock by the operator (not by an order): its ledger line and its audit entry, in
    one transaction. The platform's stock is no brand's: the entry is the operator's alone."""
    with transaction.atomic():
        movement = _move_stock(item=item, change=change, reason=reason, note=note, by=actor)
        if movement is not None:
            audit.record(
                actor=actor,
                brand=None,
                action=audit.Action.STOCK_ADJUST,
                obj=item,
                before={"stock": movement.stock_after - change},
                after={"stock": movement.stock_after, "reason": reason, "note": note},
            )
    return movement


def stock_reserve(*, item: CatalogItem, order) -> bool:
    """Take one unit for an order as it is placed; False when none is left."""
    return _move_stock(item=item, change=-1, reason=StockMovement.Reason.ORDER, order=order) is not None


def stock_release(*, item: CatalogItem, order) -> None:
    """A cancelled order's unit goes back on the shelf."""
    _move_stock(item=item, change=1, reason=StockMovement.Reason.ORDER_CANCELLED, order=order)


def _move_stock(*, item, change: int, reason: str, note: str = "", by=None, order=None) -> StockMovement | None:
    """One conditional UPDATE (never below zero, whatever the concurrency) and its ledger line, in
    one transaction; None when the stock was too low. The only code that changes `stock`."""
    with transaction.atomic():
        rows = CatalogItem.objects.filter(pk=item.pk, kind=CatalogItem.Kind.PHYSICAL)
        if change < 0:
            rows = rows.filter(stock__gte=-change)
        if not rows.update(stock=F("stock") + change):
            return None
        return StockMovement.objects.create(
            item=item, change=change, stock_after=_stock_of(item), reason=reason, note=note, by=by, order=order
        )


def _stock_of(item: CatalogItem) -> int:
    return CatalogItem.objects.filter(pk=item.pk).values_list("stock", flat=True).get()


CODE_IMPORT_MAX_BYTES = 5 * 1024 * 1024


@dataclass
class CodeImport:
    added: int
    skipped: int


def codes_import(*, item: CatalogItem, file, actor: User | None) -> CodeImport:
    """Add a CSV of codes to a digital item's pool; codes already there are skipped, never doubled.
    In the audit trail (the operator's alone) by how many were added and skipped, never a code."""
    if item.kind != CatalogItem.Kind.DIGITAL_CODE:
        raise ValidationError(f"{item.sku} is not a digital item.", code="invalid")
    if file.size > CODE_IMPORT_MAX_BYTES:
        raise ValidationError("The file is larger than 5 MB: split it.", code="max_size")
    try:
        text = file.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("The file is not UTF-8 text.", code="invalid") from exc
    codes = []
    for row in csv.reader(io.StringIO(text)):
        value = row[0].strip() if row else ""
        if not value or (not codes and value.lower() == "code"):
            continue
        if len(value) > DigitalCode._meta.get_field("code").max_length or not value.isprintable():
            raise ValidationError(
                f"Line {len(codes) + 1}: not a code (too long or control characters).", code="invalid"
            )
        codes.append(value)
    if not codes:
        raise ValidationError("The file holds no codes.", code="empty")
    unique = list(dict.fromkeys(codes))
    with transaction.atomic():
        # One import into a pool at a time, so the codes found already there are all there are.
        CatalogItem.objects.select_for_update().values_list("pk", flat=True).get(pk=item.pk)
        existing = set(DigitalCode.objects.filter(item=item, code__in=unique).values_list("code", flat=True))
        DigitalCode.objects.bulk_create(
            [DigitalCode(item=item, code=code) for code in unique if code not in existing], ignore_conflicts=True
        )
        result = CodeImport(added=len(unique) - len(existing), skipped=len(codes) - len(unique) + len(existing))
        if result.added:
            audit.record(
                actor=actor,
                brand=None,
                action=audit.Action.CODES_IMPORT,
                obj=item,
                before={},
                after={"codes_added": result.added, "codes_skipped": result.skipped},
            )
    catalog_changed()
    return result

"""The audit trail (issue 16, point 4): every staff action that moves money, stock or a campaign
writes one entry — who, when, what, the changed fields before and after — in the action's own
transaction; the console shows it read-only, a brand its own entries, the operator every one."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from rewards.campaigns import services as campaigns
from rewards.catalog import services as catalog
from rewards.errors import InvalidState
from rewards.models import Campaign, CatalogItem, DigitalCode, Moment, Order, PlatformPolicy, StoreItem
from rewards.orders import services as orders
from tenants import audit, services
from tenants.models import ApiKey, AuditEntry, Brand, Membership
from tests.factories import ApiKeyFactory, AuditEntryFactory, CampaignFactory, CatalogItemFactory, MembershipFactory
from tests.storefront.conftest import earn_moment, placed_order

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
CHANGELIST = reverse("admin:tenants_auditentry_changelist")


def only(action) -> AuditEntry:
    """The one entry of this action: a successful action writes exactly one."""
    found = list(AuditEntry.objects.filter(action=action))
    assert len(found) == 1, found
    return found[0]


def page(entry) -> str:
    return reverse("admin:tenants_auditentry_change", args=[entry.pk])


@pytest.fixture
def speaker():
    return CatalogItemFactory(sku="SPEAKER", kind="physical", value=Decimal("20.00"), stock=10, countries=["KR"])


# --- what each action writes ------------------------------------------------------------------


def test_the_api_makes_changes_activates_and_pauses_a_campaign_as_its_key(brand_a, owner_a):
    key = ApiKeyFactory(brand=brand_a, created_by=owner_a)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    sku = CatalogItemFactory().sku
    data = {"slug": "thirty", "name": "Thirty", "action": "workout", "threshold": 30, "rewards": [sku], "cpa": "5.00"}

    assert api.post("/api/v1/campaigns", data, format="json").status_code == 201
    assert api.patch("/api/v1/campaigns/thirty", {"cpa": "6.50", "name": "Thirty"}, format="json").status_code == 200
    assert api.post("/api/v1/campaigns/thirty/activate").status_code == 200
    assert api.post("/api/v1/campaigns/thirty/pause").status_code == 200

    created = only(Action.CAMPAIGN_CREATE)
    assert (created.actor_kind, created.api_key, created.actor, created.brand) == ("api_key", key.prefix, None, brand_a)
    assert created.before == {}
    assert created.after["cpa"] == "5.00" and created.after["rewards"] == [sku] and created.after["mode"] == "live"
    campaign = Campaign.objects.get(slug="thirty")
    assert (created.object_type, created.object_id) == ("rewards.campaign", str(campaign.pk))
    changed = only(Action.CAMPAIGN_UPDATE)
    assert (changed.before, changed.after) == ({"cpa": "5.00"}, {"cpa": "6.50"})  # the name did not change
    assert (only(Action.CAMPAIGN_ACTIVATE).before, only(Action.CAMPAIGN_ACTIVATE).after) == (
        {"status": "draft"},
        {"status": "active"},
    )
    assert only(Action.CAMPAIGN_PAUSE).after == {"status": "paused"}
    assert only(Action.CAMPAIGN_PAUSE).at <= timezone.now()


def test_staff_move_campaigns_in_the_console_as_themselves(brand_a, owner_a, client):
    campaign = CampaignFactory(brand=brand_a, active=True)
    client.force_login(owner_a)

    for action in ("pause", "end"):
        client.post(
            reverse("admin:rewards_campaign_changelist"), {"action": action, ACTION_CHECKBOX_NAME: [str(campaign.pk)]}
        )

    for action, before in ((Action.CAMPAIGN_PAUSE, "active"), (Action.CAMPAIGN_END, "paused")):
        entry = only(action)
        assert (entry.actor, entry.actor_kind, entry.actor_label) == (owner_a, "staff", owner_a.email)
        assert entry.before == {"status": before}


def test_a_refused_move_writes_nothing_and_the_beat_ends_campaigns_as_the_system(brand_a):
    campaign = CampaignFactory(brand=brand_a, active=True, ends_at=timezone.now() + timedelta(days=1))
    with pytest.raises(InvalidState):
        campaigns.campaign_activate(campaign=campaign, actor=None)
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - timedelta(minutes=1))

    assert campaigns.campaigns_end_due() == 1

    assert AuditEntry.objects.filter(action=Action.CAMPAIGN_ACTIVATE).count() == 1  # the factory's, not the refusal
    ended = only(Action.CAMPAIGN_END)
    assert (ended.actor_kind, ended.actor, ended.before, ended.after) == (
        "system",
        None,
        {"status": "active"},
        {"status": "ended"},
    )


def test_a_moment_cancelled_in_the_console(brand_a, owner_a, client):
    moment = earn_moment(brand_a, CatalogItemFactory())
    client.force_login(owner_a)

    client.post(
        reverse("admin:rewards_moment_changelist"),
        {"action": "cancel", ACTION_CHECKBOX_NAME: [str(moment.pk)], "confirm": "yes", "reason": "duplicate account"},
    )

    entry = only(Action.MOMENT_CANCEL)
    assert (entry.actor, entry.object_id) == (owner_a, str(moment.pk))
    assert entry.before == {"status": "earned"}
    assert entry.after == {"status": "cancelled", "cancel_reason": "duplicate account", "refunded": "5.00"}


def test_the_operator_ships_one_order_and_cancels_another(brand_a, operator, client, speaker):
    shipped, called_off = placed_order(brand_a, speaker), placed_order(brand_a, speaker)
    client.force_login(operator)

    client.post(
        reverse("admin:rewards_order_ship", args=[shipped.pk]), {"carrier": "Korea Post", "tracking_number": "KP1"}
    )
    client.post(reverse("admin:rewards_order_cancel", args=[called_off.pk]), {"reason": "Address undeliverable"})

    ship = only(Action.ORDER_SHIP)
    assert (ship.actor_kind, ship.object_id, ship.brand) == ("operator", str(shipped.pk), brand_a)
    assert ship.after == {"status": "shipped", "carrier": "Korea Post", "tracking_number": "KP1"}
    assert ship.brand_hidden == ["tracking_number"]
    cancel = only(Action.ORDER_CANCEL)
    assert (cancel.before, cancel.after) == (
        {"status": "placed"},
        {"status": "cancelled", "reason": "Address undeliverable"},
    )
    # The order's moment goes back to the brand with its CPA: its own entry, under its own id.
    assert only(Action.MOMENT_CANCEL).object_id == str(called_off.moment_id)
    assert only(Action.MOMENT_CANCEL).actor == operator


def test_keys_made_and_revoked_in_the_console_keep_no_secret(brand_a, owner_a, client):
    client.force_login(owner_a)

    made = client.post(reverse("admin:tenants_apikey_add"), {"name": "Android backend", "mode": "live"})
    issued = made.context["issued"]
    client.post(reverse("admin:tenants_apikey_revoke", args=[issued.api_key.pk]), {"confirm": "yes"})

    created, revoked = only(Action.API_KEY_CREATE), only(Action.API_KEY_REVOKE)
    assert created.after == {"prefix": issued.api_key.prefix, "mode": "live", "name": "Android backend"}
    assert (revoked.actor, revoked.before) == (owner_a, {"revoked_at": None})
    assert revoked.after["revoked_at"] == ApiKey.objects.get().revoked_at.isoformat()
    stored = json.dumps([created.before, created.after, revoked.before, revoked.after])
    assert issued.secret not in stored and ApiKey.objects.get().secret_hash not in stored


def test_the_operator_suspends_reactivates_and_caps_a_brand(brand_a, operator, client):
    client.force_login(operator)
    for action in ("suspend", "reactivate"):
        client.post(reverse("admin:tenants_brand_changelist"), {"action": action, ACTION_CHECKBOX_NAME: [brand_a.pk]})
    brand = Brand.objects.get(pk=brand_a.pk)
    brand.name, brand.monthly_cap = "Alpha", Decimal("9000.00")
    services.brand_save(brand=brand, actor=operator)
    brand.name = "Alpha Fitness"
    services.brand_save(brand=brand, actor=operator)  # neither status nor cap: nothing to record

    assert only(Action.BRAND_SUSPEND).after == {"status": "suspended"}
    assert only(Action.BRAND_REACTIVATE).before == {"status": "suspended"}
    cap = only(Action.BRAND_CAP_CHANGE)
    assert (cap.before, cap.after, cap.actor) == ({"monthly_cap": "15000.00"}, {"monthly_cap": "9000.00"}, operator)
    assert AuditEntry.objects.count() == 3


def test_the_policy_and_the_stock_are_the_operators_entries_alone(brand_a, owner_a, operator, client, speaker):
    client.force_login(operator)
    policy = PlatformPolicy.objects.get_or_create(pk=1)[0]
    client.post(
        reverse("admin:rewards_platformpolicy_change", args=[policy.pk]),
        {
            "min_cpa": "4.00",
            "max_campaign_budget": "5000.00",
            "excluded_countries": ["ZA", "AL", "SA", "RU", "CH", "KP"],
            "shipping_fee": "4.99",
            "free_shipping_from": "35.00",
        },
    )
    catalog.stock_adjust(item=speaker, change=5, reason="received", note="PO-9", actor=operator)

    changed, stocked = only(Action.POLICY_CHANGE), only(Action.STOCK_ADJUST)
    assert changed.brand is None and set(changed.before) == set(changed.after) == {"min_cpa", "excluded_countries"}
    assert (changed.before["min_cpa"], changed.after["min_cpa"]) == ("3.00", "4.00")
    assert "KP" in changed.after["excluded_countries"] and "KP" not in changed.before["excluded_countries"]
    assert (stocked.brand, stocked.object_id) == (None, str(speaker.pk))
    assert (stocked.before, stocked.after) == ({"stock": 10}, {"stock": 15, "reason": "received", "note": "PO-9"})
    assert client.get(page(stocked)).status_code == 200
    client.force_login(owner_a)
    assert client.get(CHANGELIST).context["cl"].result_list.count() == 0
    assert client.get(page(stocked)).status_code == 404  # like an entry that does not exist


def test_a_code_import_is_the_operators_entry_by_its_counts_never_a_code(brand_a, owner_a, operator, client):
    card = CatalogItemFactory(sku="CARD-10", kind="digital_code")
    DigitalCode.objects.create(item=card, code="ALREADY-1")
    client.force_login(operator)

    def upload(text):
        file = SimpleUploadedFile("codes.csv", text.encode(), content_type="text/csv")
        return client.post(reverse("admin:rewards_digitalcode_import"), {"item": str(card.pk), "file": file})

    assert upload("code\nNEW-1\nNEW-2\nNEW-1\nALREADY-1\n").status_code == 302
    assert upload("ALREADY-1\nNEW-2\n").status_code == 302  # nothing added: nothing moved, no entry

    imported = only(Action.CODES_IMPORT)
    assert (imported.brand, imported.actor, imported.actor_kind) == (None, operator, "operator")
    assert (imported.object_type, imported.object_id) == ("rewards.catalogitem", str(card.pk))
    assert (imported.before, imported.after) == ({}, {"codes_added": 2, "codes_skipped": 2})
    assert not any(code in str(model_to_dict(imported)) for code in ("NEW-1", "NEW-2", "ALREADY-1"))
    client.force_login(owner_a)
    assert client.get(page(imported)).status_code == 404


def test_test_clock_moves_are_the_brands_entries_by_the_key_or_the_staff_member(brand_a, owner_a, owner_b, client):
    key = ApiKeyFactory(brand=brand_a, mode="test", created_by=owner_a)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    first, second = timezone.now() + timedelta(days=10), timezone.now() + timedelta(days=40)

    moved = api.post("/api/v1/test_clock/advance", {"to": first.isoformat()}, format="json")
    backward = api.post("/api/v1/test_clock/advance", {"to": timezone.now().isoformat()}, format="json")
    client.force_login(owner_a)
    client.post(reverse("admin:test_clock"), {"to": second.strftime("%Y-%m-%dT%H:%M")})

    assert (moved.status_code, backward.status_code) == (200, 400)
    by_key, by_owner = AuditEntry.objects.filter(action=Action.TEST_CLOCK_ADVANCE).order_by("at")
    assert (by_key.brand, by_key.actor_kind, by_key.api_key) == (brand_a, "api_key", key.prefix)
    assert (by_key.object_type, by_key.object_id) == ("tenants.brand", str(brand_a.pk))
    assert by_key.before["advanced_by_seconds"] == 0 and by_key.after["test_now"] == first.isoformat()
    assert 10 * 86400 - 60 < by_key.after["advanced_by_seconds"] <= 10 * 86400
    assert (by_owner.actor, by_owner.actor_kind) == (owner_a, "staff")
    assert by_owner.before["advanced_by_seconds"] == by_key.after["advanced_by_seconds"]
    assert by_owner.after["test_now"].startswith(second.strftime("%Y-%m-%dT%H:%M"))
    assert key.secret not in str([by_key.before, by_key.after])
    assert client.get(page(by_key)).status_code == 200
    client.force_login(owner_b)
    assert client.get(page(by_key)).status_code == 404


CATALOG_FORM = {
    "sku": "NEW-BOX",
    "name": "New box",
    "kind": "physical",
    "value": "10",
    "cost": "9.00",
    "stock": "12",
    "active": "on",
    "stock_movements-TOTAL_FORMS": "0",
    "stock_movements-INITIAL_FORMS": "0",
}


def test_catalog_items_made_and_changed_in_the_console_are_the_operators_entries(owner_a, operator, client):
    client.force_login(operator)

    assert client.post(reverse("admin:rewards_catalogitem_add"), CATALOG_FORM).status_code == 302
    item = CatalogItem.objects.get(sku="NEW-BOX")
    change = reverse("admin:rewards_catalogitem_change", args=[item.pk])
    edited = {**CATALOG_FORM, "value": "12.50", "countries": ["KR", "TH"], "active": ""}
    assert client.post(change, edited).status_code == 302
    # Saved as it was, with a stock adjustment: the adjustment's entry alone.
    adjusted = {**edited, "stock_change": "3", "stock_reason": "received"}
    assert client.post(change, adjusted).status_code == 302

    made, changed = only(Action.CATALOG_ITEM_CREATE), only(Action.CATALOG_ITEM_UPDATE)
    assert (made.brand, made.actor, made.object_id) == (None, operator, str(item.pk))
    assert made.before == {}
    assert made.after["sku"] == "NEW-BOX" and made.after["value"] == "10.00" and made.after["kind"] == "physical"
    assert "stock" not in made.after  # the count is the stock ledger's, its own entries
    assert (changed.brand, changed.actor) == (None, operator)
    assert changed.before == {"value": "10.00", "countries": [], "active": True}
    assert changed.after == {"value": "12.50", "countries": ["KR", "TH"], "active": False}
    stock = AuditEntry.objects.filter(action=Action.STOCK_ADJUST, object_id=str(item.pk)).order_by("at")
    assert [(e.after["stock"], e.after["reason"]) for e in stock] == [(12, "opening"), (15, "received")]
    client.force_login(owner_a)
    assert client.get(CHANGELIST).context["cl"].result_list.count() == 0


def test_a_brands_store_items_are_its_entries_by_its_staff(brand_a, owner_a, owner_b, operator, client, speaker):
    client.force_login(owner_a)
    form = {"item": str(speaker.pk), "price": "25", "active": "on", "position": "0"}

    assert client.post(reverse("admin:rewards_storeitem_add"), form).status_code == 302
    store_item = StoreItem.objects.get(brand=brand_a)
    change = reverse("admin:rewards_storeitem_change", args=[store_item.pk])
    assert client.post(change, {**form, "price": "30.00", "position": "2", "active": ""}).status_code == 302
    assert client.post(change, {**form, "price": "30.00", "position": "2", "active": ""}).status_code == 302

    made, changed = only(Action.STORE_ITEM_CREATE), only(Action.STORE_ITEM_UPDATE)
    assert (made.brand, made.actor, made.actor_kind, made.object_id) == (brand_a, owner_a, "staff", str(store_item.pk))
    assert made.after == {"item": "SPEAKER", "price": "25.00", "active": True, "position": 0}
    assert changed.before == {"price": "25.00", "active": True, "position": 0}
    assert changed.after == {"price": "30.00", "active": False, "position": 2}
    assert {e.pk for e in client.get(CHANGELIST).context["cl"].result_list} == {made.pk, changed.pk}
    client.force_login(owner_b)
    assert client.get(CHANGELIST).context["cl"].result_list.count() == 0
    assert client.get(page(changed)).status_code == 404


def test_staff_changes_show_the_persons_email_to_the_brand_while_they_are_on_its_staff(
    brand_a, owner_a, owner_b, operator, client
):
    client.force_login(owner_a)
    client.post(reverse("admin:tenants_membership_add"), {"email": "new@alpha.example", "role": "manager"})
    member = Membership.objects.get(user__email="new@alpha.example")
    client.post(reverse("admin:tenants_membership_change", args=[member.pk]), {"role": "analyst"})
    added, changed = only(Action.MEMBERSHIP_ADD), only(Action.MEMBERSHIP_ROLE_CHANGE)
    while_on_staff = client.get(page(changed)).content.decode()
    client.post(reverse("admin:tenants_membership_delete", args=[member.pk]), {"post": "yes"})
    removed = only(Action.MEMBERSHIP_REMOVE)

    person = {"user": member.user_id, "email": "new@alpha.example"}
    assert (added.brand, added.actor, added.object_id) == (brand_a, owner_a, str(member.pk))
    assert (added.before, added.after) == ({}, {**person, "role": "manager"})
    assert (changed.before, changed.after) == ({**person, "role": "manager"}, {**person, "role": "analyst"})
    assert (removed.before, removed.after) == ({**person, "role": "analyst"}, {})
    assert added.brand_hidden == changed.brand_hidden == removed.brand_hidden == ["email"]
    assert "new@alpha.example" in while_on_staff and "(withheld)" not in while_on_staff
    after_leaving = client.get(page(changed)).content.decode() + client.get(page(removed)).content.decode()
    assert "new@alpha.example" not in after_leaving and "(withheld)" in after_leaving
    client.force_login(operator)
    assert "new@alpha.example" in client.get(page(removed)).content.decode()
    client.force_login(owner_b)
    assert client.get(page(removed)).status_code == 404


def test_a_webhook_secret_rotation_is_the_brands_entry_without_a_secret(brand_a, owner_a, client):
    old_secret = Brand.objects.get(pk=brand_a.pk).webhook_secret
    client.force_login(owner_a)

    client.post(
        reverse("admin:tenants_brand_changelist"),
        {"action": "rotate_webhook_secret", ACTION_CHECKBOX_NAME: [brand_a.pk]},
    )

    brand = Brand.objects.get(pk=brand_a.pk)
    assert brand.webhook_previous_secret == old_secret != brand.webhook_secret
    rotated = only(Action.WEBHOOK_SECRET_ROTATE)
    assert (rotated.brand, rotated.actor, rotated.object_id) == (brand_a, owner_a, str(brand_a.pk))
    assert rotated.before == {"webhook_secret_rotated_at": None}
    assert rotated.after == {
        "webhook_secret_rotated_at": brand.webhook_secret_rotated_at.isoformat(),
        "previous_secret_signs_until": (brand.webhook_secret_rotated_at + timedelta(days=1)).isoformat(),
    }
    assert old_secret not in str(model_to_dict(rotated)) and brand.webhook_secret not in str(model_to_dict(rotated))
    assert AuditEntry.objects.filter(brand=brand_a).exclude(action=Action.WEBHOOK_SECRET_ROTATE).count() == 0
    assert client.get(page(rotated)).status_code == 200


# --- one transaction with the action ----------------------------------------------------------


def test_an_action_that_fails_after_its_entry_leaves_no_entry(brand_a, speaker):
    """Cancelling an order records it, then cancels its moment, which refuses (it expired meanwhile):
    the whole cancellation rolls back, its entry with it."""
    order = placed_order(brand_a, speaker)
    Moment.objects.filter(pk=order.moment_id).update(status=Moment.Status.EXPIRED)

    with pytest.raises(InvalidState):
        orders.order_cancel(order=order, reason="customer asked", actor=None)

    assert Order.objects.get(pk=order.pk).status == "placed"
    assert not AuditEntry.objects.filter(action__in=[Action.ORDER_CANCEL, Action.MOMENT_CANCEL]).exists()


def _import_codes(brand, operator):
    card = CatalogItemFactory(kind="digital_code")
    file = SimpleUploadedFile("codes.csv", b"ONE\nTWO\n")
    catalog.codes_import(item=card, file=file, actor=operator)


def _move_test_clock(brand, operator):
    services.brand_test_clock_advance(brand=brand, to=timezone.now() + timedelta(days=1), actor=operator)


def _make_catalog_item(brand, operator):
    catalog.catalog_item_save(item=CatalogItem(sku="ROLL-1", name="Roll", kind="credit", value=1, cost=1), actor=None)


def _make_store_item(brand, operator):
    item = CatalogItemFactory(kind="physical")
    orders.store_item_save(store_item=StoreItem(brand=brand, item=item, price=Decimal("5")), actor=operator)


def _add_staff(brand, operator):
    services.membership_add(brand=brand, email="new@alpha.example", role="manager", actor=operator, notify=False)


def _remove_staff(brand, operator):
    services.membership_remove(membership=MembershipFactory(brand=brand, role="analyst"), actor=operator)


def _rotate_webhook_secret(brand, operator):
    services.brand_rotate_webhook_secret(brand=brand, actor=operator)


@pytest.mark.parametrize(
    "act, action",
    [
        (_import_codes, Action.CODES_IMPORT),
        (_move_test_clock, Action.TEST_CLOCK_ADVANCE),
        (_make_catalog_item, Action.CATALOG_ITEM_CREATE),
        (_make_store_item, Action.STORE_ITEM_CREATE),
        (_add_staff, Action.MEMBERSHIP_ADD),
        (_remove_staff, Action.MEMBERSHIP_REMOVE),
        (_rotate_webhook_secret, Action.WEBHOOK_SECRET_ROTATE),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_each_new_entry_rolls_back_with_its_action_and_commits_with_it(act, action, brand_a, operator):
    with pytest.raises(RuntimeError), transaction.atomic():
        act(brand_a, operator)
        assert AuditEntry.objects.filter(action=action).count() == 1
        raise RuntimeError("the caller's transaction fails after the action")
    assert not AuditEntry.objects.filter(action=action).exists()

    act(brand_a, operator)

    assert AuditEntry.objects.filter(action=action).count() == 1


def test_a_test_clock_move_that_loses_a_race_writes_nothing(brand_a, owner_a):
    """The move is a conditional UPDATE on the offset it read: moved meanwhile, it is refused, and
    its entry, written with it, is not there."""
    stale = Brand.objects.get(pk=brand_a.pk)
    Brand.objects.filter(pk=brand_a.pk).update(test_clock_offset=timedelta(hours=1))

    with pytest.raises(ValidationError):
        services.brand_test_clock_advance(brand=stale, to=timezone.now() + timedelta(minutes=30), actor=owner_a)

    assert not AuditEntry.objects.filter(action=Action.TEST_CLOCK_ADVANCE).exists()
    services.brand_test_clock_advance(brand=brand_a, to=timezone.now() + timedelta(hours=2), actor=owner_a)
    assert only(Action.TEST_CLOCK_ADVANCE).before["advanced_by_seconds"] == 3600


@pytest.mark.django_db(transaction=True)
def test_an_entry_is_written_only_inside_the_actions_transaction(brand_a):
    campaign = CampaignFactory(brand=brand_a)
    write = {"actor": None, "brand": brand_a, "action": Action.CAMPAIGN_PAUSE, "obj": campaign}

    with pytest.raises(RuntimeError):
        audit.record(**write, before={"status": "active"}, after={"status": "paused"})
    with transaction.atomic():
        audit.record(**write, before={"status": "active"}, after={"status": "paused"})

    assert AuditEntry.objects.filter(action=Action.CAMPAIGN_PAUSE).count() == 1


def test_an_entry_never_holds_a_secret(brand_a):
    key = ApiKeyFactory(brand=brand_a, created_by=None)
    with pytest.raises(ValueError, match="secret"), transaction.atomic():
        audit.record(
            actor=None, brand=brand_a, action=Action.API_KEY_REVOKE, obj=key, before={}, after={"secret_hash": "x"}
        )


# --- the console ------------------------------------------------------------------------------


def test_a_brand_reads_its_own_entries_and_the_operator_every_one(brand_a, brand_b, owner_a, operator, client):
    own, theirs, platform = (
        AuditEntryFactory(brand=brand_a),
        AuditEntryFactory(brand=brand_b),
        AuditEntryFactory(brand=None),
    )

    client.force_login(owner_a)
    assert {e.pk for e in client.get(CHANGELIST).context["cl"].result_list} == {own.pk}
    assert client.get(page(platform)).status_code == 404
    client.force_login(operator)
    assert {e.pk for e in client.get(CHANGELIST).context["cl"].result_list} == {own.pk, theirs.pk, platform.pk}
    brandless = client.get(CHANGELIST, {"brand__isnull": "True"}).context["cl"].result_list
    assert [e.pk for e in brandless] == [platform.pk]


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_nobody_adds_changes_or_deletes_an_entry(who, brand_a, owner_a, operator, client):
    entry = AuditEntryFactory(brand=brand_a)
    client.force_login(owner_a if who == "owner" else operator)

    assert client.get(page(entry)).status_code == 200
    assert client.get(reverse("admin:tenants_auditentry_add")).status_code == 403
    assert client.post(page(entry), {"action": "order.cancel"}).status_code == 403
    assert client.post(reverse("admin:tenants_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).action == entry.action


def test_the_brand_sees_its_staff_by_email_the_operator_as_the_operator_and_no_tracking_number(
    brand_a, owner_a, operator, client, speaker
):
    order = placed_order(brand_a, speaker)
    orders.order_ship(order=order, carrier="Korea Post", tracking_number="KP7TRACK", actor=operator)
    campaigns.campaign_pause(campaign=CampaignFactory(brand=brand_a, active=True), actor=owner_a)
    leaver = Membership.objects.create(brand=brand_a, user=operator.__class__.objects.create_user("gone@alpha.example"))
    campaigns.campaign_pause(campaign=CampaignFactory(brand=brand_a, active=True), actor=leaver.user)
    leaver.delete()
    ship = only(Action.ORDER_SHIP)

    client.force_login(owner_a)
    listed = client.get(CHANGELIST).content.decode()
    shown = client.get(page(ship)).content.decode()
    assert owner_a.email in listed and "the Moments operator" in listed and "someone no longer on your staff" in listed
    assert operator.email not in listed + shown and "gone@alpha.example" not in listed
    assert "KP7TRACK" not in listed + shown and "(withheld)" in shown and "Korea Post" in shown
    client.force_login(operator)
    shown = client.get(page(ship)).content.decode()
    assert "KP7TRACK" in shown and operator.email in shown


def test_the_list_filters_by_action_and_date_and_finds_an_object_by_id(brand_a, owner_a, client):
    paused, cancelled = AuditEntryFactory(brand=brand_a), AuditEntryFactory(brand=brand_a, action=Action.ORDER_CANCEL)
    client.force_login(owner_a)

    def listed(**query):
        response = client.get(CHANGELIST, query)
        assert response.status_code == 200
        return {e.pk for e in response.context["cl"].result_list}

    assert listed(action__exact="order.cancel") == {cancelled.pk}
    tomorrow = str(timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1))
    assert listed(at__lt=tomorrow) == {paused.pk, cancelled.pk} and listed(at__gte=tomorrow) == set()
    assert listed(q=paused.object_id) == {paused.pk}

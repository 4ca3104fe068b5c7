from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import Country

from config.spreadsheets import csv_response
from rewards import campaigns, catalog, moments, order_moves, orders, selectors, webhooks
from rewards.errors import InvalidState
from rewards.models import (
    Campaign,
    CampaignSpend,
    CatalogItem,
    Charity,
    DigitalCode,
    Donation,
    Event,
    LedgerEntry,
    Moment,
    Order,
    PlatformPolicy,
    StockMovement,
    StoreItem,
    WebhookDelivery,
)
from tenants.admin_scoping import EDITORS, BrandScopedAdmin, SecretsNotFilterable, is_operator

NOBODY = frozenset()


# --- The operator's catalog and rules ---------------------------------------------------------


@admin.register(PlatformPolicy)
class PlatformPolicyAdmin(SecretsNotFilterable, admin.ModelAdmin):
    def has_add_permission(self, request):
        return super().has_add_permission(request) and not PlatformPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        selectors.platform_policy_changed()


class CatalogAdmin(SecretsNotFilterable, admin.ModelAdmin):
    """The operator's catalog; an edit reaches the campaigns cached in every process."""

    formfield_overrides = BrandScopedAdmin.formfield_overrides  # URLs typed without a scheme are https

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        selectors.catalog_changed()


@admin.register(Charity)
class CharityAdmin(CatalogAdmin):
    list_display = ["name", "website"]
    search_fields = ["name"]


class CatalogItemForm(forms.ModelForm):
    """The item, and on a physical item's page an "adjust the stock by ±N, with a reason": the
    count itself is never typed over (claims move it meanwhile; a form would write back a stale one)."""

    stock_change = forms.IntegerField(
        label=_("Adjust stock by"), required=False, help_text=_("Units to add (e.g. 50) or take away (e.g. -3).")
    )
    stock_reason = forms.ChoiceField(
        label=_("Reason for the change"),
        required=False,
        choices=[
            ("", "—"),
            *[
                (reason.value, reason.label)
                for reason in (
                    StockMovement.Reason.RECEIVED,
                    StockMovement.Reason.CORRECTION,
                    StockMovement.Reason.DAMAGED,
                )
            ],
        ],
    )
    stock_note = forms.CharField(label=_("Stock note"), required=False, max_length=240)

    def clean(self):
        data = super().clean()
        if data.get("stock_change") and not data.get("stock_reason"):
            self.add_error("stock_reason", _("Say why the stock changes."))
        return data


class StockMovementInline(admin.TabularInline):
    """The item's stock ledger, newest first: read only."""

    model = StockMovement
    fk_name = "item"
    fields = ["created_at", "change", "stock_after", "reason", "note", "order", "by"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-created_at"]
    show_change_link = False


@admin.register(CatalogItem)
class CatalogItemAdmin(CatalogAdmin):
    form = CatalogItemForm
    list_display = ["sku", "name", "kind", "value", "cost", "stock", "free_codes", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["sku", "name"]
    list_select_related = ["charity"]
    inlines = [StockMovementInline]

    def get_readonly_fields(self, request, obj=None):
        # Once the item exists: the count moves only through the stock ledger, and the kind (which
        # decides its provider, whether it has stock, what campaigns offering it promise) stays.
        return ["kind", "stock"] if obj is not None else []

    def get_fields(self, request, obj=None):
        adjusting = obj is not None and obj.kind == CatalogItem.Kind.PHYSICAL
        fields = [name for name in super().get_fields(request, obj) if not name.startswith("stock_")]
        return [*fields, "stock_change", "stock_reason", "stock_note"] if adjusting else fields

    def save_model(self, request, obj, form, change):
        opening = 0
        if not change and obj.kind == CatalogItem.Kind.PHYSICAL:
            opening, obj.stock = obj.stock or 0, 0  # the opening count goes in through the ledger
        if change:
            # Every column but the count: a claim may have moved it since this row was read.
            obj.save(update_fields=[f.name for f in obj._meta.concrete_fields if f.name not in {"id", "kind", "stock"}])
            selectors.catalog_changed()
        else:
            super().save_model(request, obj, form, change)
        if opening:
            catalog.stock_open(item=obj, count=opening, by=request.user)
        if change and form.cleaned_data.get("stock_change"):
            try:
                catalog.stock_adjust(
                    item=obj,
                    change=form.cleaned_data["stock_change"],
                    reason=form.cleaned_data["stock_reason"],
                    note=form.cleaned_data.get("stock_note", ""),
                    by=request.user,
                )
            except ValidationError as refusal:
                self.message_user(request, " ".join(refusal.messages), messages.ERROR)

    def get_queryset(self, request):
        free = Count("codes", filter=Q(codes__order__isnull=True))
        return super().get_queryset(request).annotate(free_code_count=free)

    @admin.display(description=_("free codes"))
    def free_codes(self, obj):
        return obj.free_code_count if obj.kind == CatalogItem.Kind.DIGITAL_CODE else "—"


class CodeImportForm(forms.Form):
    item = forms.ModelChoiceField(queryset=CatalogItem.objects.filter(kind=CatalogItem.Kind.DIGITAL_CODE))
    file = forms.FileField(
        help_text=_("CSV, one code per row in the first column; a header row named 'code' is skipped.")
    )


@admin.register(DigitalCode)
class DigitalCodeAdmin(SecretsNotFilterable, admin.ModelAdmin):
    """The operator's code pools. Codes are secrets: lists show whether one is given, never the code."""

    list_display = ["item", "given", "allocated_at", "created_at"]
    list_filter = ["item", ("order", admin.EmptyFieldListFilter)]
    fields = ["item", "allocated_at", "created_at"]
    readonly_fields = fields
    list_select_related = ["item"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # codes come in by CSV import

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.order_id is None)

    @admin.display(boolean=True, description=_("given"))
    def given(self, obj):
        return obj.order_id is not None

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="rewards_digitalcode_import"),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not request.user.is_superuser:
            raise PermissionDenied
        form = CodeImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = catalog.codes_import(item=form.cleaned_data["item"], file=form.cleaned_data["file"])
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                self.message_user(
                    request,
                    _("Imported %(added)d codes; %(skipped)d already in the pool were skipped.")
                    % {"added": result.added, "skipped": result.skipped},
                )
                return HttpResponseRedirect(reverse("admin:rewards_digitalcode_changelist"))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": _("Import codes"), "form": form}
        return TemplateResponse(request, "admin/rewards/digitalcode/import.html", context)


# --- The brand's campaigns --------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    """The admin's campaign form; its rules are the service's, the same the API applies."""

    # Not named `rewards`: the model's field goes through CampaignReward, which the service fills.
    reward_items = forms.ModelMultipleChoiceField(
        label=_("rewards"),
        queryset=CatalogItem.objects.filter(active=True),
        widget=admin.widgets.FilteredSelectMultiple(_("rewards"), is_stacked=True),
        help_text=_("When there are several, the user chooses one."),
    )
    request_brand = None  # set by BrandScopedAdmin.get_form

    class Meta:
        model = Campaign
        fields = campaigns.CAMPAIGN_FIELDS
        widgets = {"excluded_countries": admin.widgets.FilteredSelectMultiple(_("countries"), is_stacked=True)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.initial["reward_items"] = selectors.campaign_rewards(self.instance)

    def service_data(self) -> dict:
        adding = self.instance._state.adding
        names = self.cleaned_data if adding else self.changed_data
        data = {name: self.cleaned_data[name] for name in names if name in campaigns.CAMPAIGN_FIELDS}
        if adding or "reward_items" in self.changed_data:
            data["rewards"] = [item.sku for item in self.cleaned_data["reward_items"]]
        return data

    def clean(self):
        cleaned = super().clean()
        brand = self.request_brand or cleaned.get("brand") or getattr(self.instance, "brand", None)
        if self._errors or brand is None:
            return cleaned
        original = None if self.instance._state.adding else Campaign.objects.get(pk=self.instance.pk)
        try:
            campaigns.campaign_check(brand=brand, data=self.service_data(), campaign=original)
        except ValidationError as exc:
            for name, errors in exc.error_dict.items():
                name = "reward_items" if name == "rewards" else name
                self.add_error(name if name in self.fields else None, errors)
        return cleaned

    def _post_clean(self):
        # The service has checked the whole campaign; the model's own full_clean would only
        # repeat it with the brand left out.
        pass


@admin.register(Campaign)
class CampaignAdmin(BrandScopedAdmin):
    form = CampaignForm
    delete_roles = NOBODY  # campaigns end; their moments and ledger keep pointing at them
    list_display = ["name", "slug", "action", "status", "cpa", "monthly_budget", "spent_this_month", "granted_live"]
    list_filter = ["status"]
    search_fields = ["name", "slug", "action"]
    readonly_fields = ["status", "spent_this_month", "granted_live", "granted_test", "created_at", "updated_at"]
    actions = ["activate", "pause", "end"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "action", "threshold", "reward_items"]}),
        (_("Money"), {"fields": ["cpa", "monthly_budget", "spent_this_month"]}),
        (
            _("Rules"),
            {
                "fields": [
                    "starts_at",
                    "ends_at",
                    "max_moments",
                    "max_per_user",
                    "excluded_countries",
                    "claim_window_days",
                ]
            },
        ),
        (_("State"), {"fields": ["status", "granted_live", "granted_test", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        this_month = CampaignSpend.objects.filter(
            campaign=OuterRef("pk"), period=selectors.month_of(timezone.now())
        ).values("spent")
        return super().get_queryset(request).annotate(spent_now=Subquery(this_month))

    @admin.display(description=_("spent this month (USD)"))
    def spent_this_month(self, obj):
        return f"{getattr(obj, 'spent_now', None) or 0:.2f}"

    def save_model(self, request, obj, form, change):
        data = form.service_data()
        if change:
            saved = campaigns.campaign_update(campaign=Campaign.objects.get(pk=obj.pk), data=data)
        else:
            brand = form.request_brand or form.cleaned_data["brand"]
            saved = campaigns.campaign_create(brand=brand, data=data)
        obj.pk, obj.brand, obj._state.adding = saved.pk, saved.brand, False

    def save_related(self, request, form, formsets, change):
        # Rewards were saved by the service, in the order chosen; nothing else is related.
        pass

    def _move(self, request, queryset, move, done):
        moved = 0
        for campaign in queryset:
            try:
                move(campaign=campaign)
                moved += 1
            except InvalidState as exc:
                self.message_user(request, f"{campaign.name}: {exc}", messages.ERROR)
        if moved:
            self.message_user(request, done % {"count": moved})

    @admin.action(description=_("Activate the selected campaigns"), permissions=["change"])
    def activate(self, request, queryset):
        self._move(request, queryset, campaigns.campaign_activate, _("Activated %(count)d campaign(s)."))

    @admin.action(description=_("Pause the selected campaigns"), permissions=["change"])
    def pause(self, request, queryset):
        self._move(request, queryset, campaigns.campaign_pause, _("Paused %(count)d campaign(s)."))

    @admin.action(description=_("End the selected campaigns (for good)"), permissions=["change"])
    def end(self, request, queryset):
        self._move(request, queryset, campaigns.campaign_end, _("Ended %(count)d campaign(s)."))


# --- What happened: moments, events, the ledger (read-only) -----------------------------------


class ReadOnlyBrandAdmin(BrandScopedAdmin):
    """Records written by services only: staff read them, nobody edits them here."""

    add_roles = change_roles = delete_roles = NOBODY
    show_full_result_count = False  # these tables grow large: no COUNT(*) of the whole brand

    def get_readonly_fields(self, request, obj=None):
        hidden = self._hidden_from(request)
        return [f.name for f in self.model._meta.fields if f.name not in hidden]

    def get_exclude(self, request, obj=None):
        # Out of the form too: a field left in it shows, read-only, to whoever may not change it.
        return [*super().get_exclude(request, obj), *self._hidden_from(request)]

    def _hidden_from(self, request):
        return self.hidden_fields if is_operator(request) else self.hidden_fields | self.operator_only_fields

    hidden_fields = {"brand"}
    # Who the end user is and where they live: shown to the operator, who fulfils; never to a brand.
    operator_only_fields = frozenset()


class CancelForm(forms.Form):
    reason = forms.CharField(
        max_length=240, widget=forms.Textarea(attrs={"rows": 3}), help_text=_("Kept with the moment and in the ledger.")
    )


@admin.register(Moment)
class MomentAdmin(ReadOnlyBrandAdmin):
    hidden_fields = {"brand", "claim_token_hash"}
    operator_only_fields = {"account"}  # the platform account that claimed it
    list_display = ["id", "campaign", "user_id", "status", "mode", "cpa", "earned_at", "expires_at"]
    list_filter = ["status", "mode", "campaign"]
    search_fields = ["=id", "user_id"]
    list_select_related = ["campaign", "brand"]
    actions = ["cancel"]

    def has_cancel_permission(self, request):
        return self._role_may(request, EDITORS)

    @admin.action(description=_("Cancel the selected moments (the CPA is credited back)"), permissions=["cancel"])
    def cancel(self, request, queryset):
        earned = list(queryset.filter(status=Moment.Status.EARNED))
        form = CancelForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            cancelled, moved_on = 0, []
            for moment in earned:
                try:
                    moments.moment_cancel(moment=moment, reason=form.cleaned_data["reason"])
                    cancelled += 1
                except InvalidState:  # claimed (or expired) since the list was read
                    moved_on.append(f"{moment.pk} ({moment.get_status_display()})")
            self.message_user(request, _("Cancelled %(count)d moment(s).") % {"count": cancelled})
            if moved_on:
                self.message_user(
                    request,
                    _("Not cancelled, no longer earned: %(moments)s.") % {"moments": ", ".join(moved_on)},
                    messages.WARNING,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Cancel moments?"),
            "moments": earned,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/rewards/moment/cancel_confirm.html", context)


@admin.register(Event)
class EventAdmin(ReadOnlyBrandAdmin):
    list_display = ["event_id", "user_id", "action", "quantity", "mode", "country", "occurred_at", "received_at"]
    list_filter = ["mode"]
    search_fields = ["=event_id", "=user_id"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyBrandAdmin):
    list_display = ["created_at", "kind", "amount", "campaign", "period", "moment", "note"]
    list_filter = ["kind", "period", "campaign"]
    search_fields = ["=moment__id", "note"]
    list_select_related = ["campaign", "brand"]


@admin.register(Donation)
class DonationAdmin(ReadOnlyBrandAdmin):
    """The donation ledger: what the brand's rewards gave, per charity."""

    list_display = ["created_at", "charity", "amount", "moment"]
    list_filter = ["charity"]
    search_fields = ["=moment__user_id"]
    list_select_related = ["charity", "brand"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyBrandAdmin):
    """Every event sent to the brand's endpoint, with its attempts; owners and managers resend."""

    list_display = ["created_at", "event_type", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["=id"]
    actions = ["redeliver"]
    hidden_fields = {"brand", "last_error"}  # shown through error_shown: fixed phrases only
    exclude = ["last_error"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        at = fields.index("last_status_code") + 1
        return [*fields[:at], "last_error_shown", *fields[at:]]

    @admin.display(description=_("last error"))
    def last_error_shown(self, obj):
        return webhooks.error_shown(obj.last_error)

    def has_redeliver_permission(self, request):
        return self._role_may(request, EDITORS)

    @admin.action(description=_("Send the selected events again"), permissions=["redeliver"])
    def redeliver(self, request, queryset):
        for delivery in queryset:
            webhooks.redeliver(delivery=delivery)
        self.message_user(request, _("%(count)d event(s) queued again.") % {"count": len(queryset)})


# --- Reward stores and orders ----------------------------------------------------------------


@admin.register(StoreItem)
class StoreItemAdmin(BrandScopedAdmin):
    """A brand's reward store: items of the catalog, priced in the brand's credit."""

    list_display = ["item", "price", "active", "position"]
    list_filter = ["active"]
    search_fields = ["item__name", "item__sku"]
    list_select_related = ["item", "brand"]
    delete_roles = NOBODY  # orders point at them: take an item out of the store with `active`

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "item":
            # Store items are things to send; credit and donations are not sold for credit.
            kwargs["queryset"] = CatalogItem.objects.filter(
                active=True, kind__in=[CatalogItem.Kind.PHYSICAL, CatalogItem.Kind.DIGITAL_CODE]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=60)
    tracking_number = forms.CharField(max_length=80)


class CancelOrderForm(forms.Form):
    reason = forms.CharField(max_length=240, help_text=_("Shown to the customer on the order page."))


@admin.register(Order)
class OrderAdmin(ReadOnlyBrandAdmin):
    """Orders as the brand sees them; the operator ships physical ones from here."""

    hidden_fields = {"brand", "digital_code"}  # a code is the end user's, not the brand's
    # Who and where: the operator ships, the brand sees the country alone (DESIGN.md §1).
    operator_only_fields = {"user", "shipping_address", "provider_lease_until"}
    list_display = ["id", "item", "status", "ship_to_country", "created_at", "carrier", "tracking_number"]
    list_filter = ["status", "item"]
    search_fields = ["=id", "tracking_number", "=moment__user_id"]
    list_select_related = ["item", "brand"]
    actions = ["export_pick_list"]

    def has_operator_permission(self, request):
        return is_operator(request)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        at = fields.index("status") + 1
        return [*fields[:at], "ship_to_country", *fields[at:]]

    @admin.display(description=_("country"))
    def ship_to_country(self, obj):
        code = (obj.shipping_address or {}).get("country")
        return Country(code).name if code else "—"

    @admin.action(description=_("Export the pick list (CSV) of the selected parcels"), permissions=["operator"])
    def export_pick_list(self, request, queryset):
        """What the warehouse picks and packs: placed physical orders, one row each, oldest first."""
        parcels = queryset.filter(status=Order.Status.PLACED, item__kind=CatalogItem.Kind.PHYSICAL).order_by(
            "created_at"
        )
        columns = ["full_name", "line1", "line2", "city", "region", "postal_code", "country", "phone"]
        rows = (
            [
                order.pk,
                order.created_at.isoformat(),
                order.brand.name,  # names, and addresses typed by end users: escaped by csv_response
                order.item.sku,
                order.item.name,
                1,
                *((order.shipping_address or {}).get(column, "") for column in columns),
            ]
            for order in parcels.select_related("brand", "item")
        )
        header = ["order", "placed", "brand", "sku", "item", "quantity", *columns]
        return csv_response("pick-list.csv", header, rows)

    def get_urls(self):
        ship = self.admin_site.admin_view(self.ship_view)
        cancel = self.admin_site.admin_view(self.cancel_view)
        return [
            path("<path:object_id>/ship/", ship, name="rewards_order_ship"),
            path("<path:object_id>/cancel/", cancel, name="rewards_order_cancel"),
            *super().get_urls(),
        ]

    def ship_view(self, request, object_id):
        """The operator enters the carrier and tracking number of a parcel that left the warehouse."""
        return self._operator_form(
            request,
            object_id,
            ShipForm,
            title=_("Mark shipped"),
            apply=lambda order, data: order_moves.order_move(order=order, to=Order.Status.SHIPPED, **data),
            done=_("Marked shipped."),
            refused=_("Only a placed order can be shipped."),
        )

    def cancel_view(self, request, object_id):
        """The operator calls off an order not yet sent; stock, fee, CPA and credit go back."""
        return self._operator_form(
            request,
            object_id,
            CancelOrderForm,
            title=_("Cancel the order"),
            apply=lambda order, data: orders.order_cancel(order=order, reason=data["reason"]),
            done=_("Order cancelled: stock, fee, CPA and credit returned."),
            refused=_("Only a placed or failed order can be cancelled."),
        )

    def _operator_form(self, request, object_id, form_class, *, title, apply, done, refused):
        order = self.get_object(request, object_id)  # another brand's order: 404
        if not is_operator(request):
            raise PermissionDenied
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                applied = apply(order, form.cleaned_data)
            except orders.Refused as refusal:
                applied, refused = False, str(refusal)
            if applied:
                self.message_user(request, done)
            else:
                self.message_user(request, refused, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:rewards_order_change", args=[order.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": title, "form": form}
        return TemplateResponse(request, "admin/rewards/order/operator_form.html", {**context, "order": order})

"""The operator's catalog and rules in the console: the platform policy, charities, items and their
stock, code pools."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from rewards.catalog import services as catalog
from rewards.catalog.models import CatalogItem, Charity, DigitalCode, PlatformPolicy, StockMovement
from rewards.catalog.selectors import catalog_changed
from tenants.admin_scoping import (
    BrandScopedAdmin,
    SecretsNotFilterable,
)


@admin.register(PlatformPolicy)
class PlatformPolicyAdmin(SecretsNotFilterable, admin.ModelAdmin):
    def has_add_permission(self, request):
        return super().has_add_permission(request) and not PlatformPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        catalog.policy_save(policy=obj, actor=request.user)


class CatalogAdmin(SecretsNotFilterable, admin.ModelAdmin):
    """The operator's catalog; an edit reaches the campaigns cached in every process."""

    formfield_overrides = BrandScopedAdmin.formfield_overrides  # URLs typed without a scheme are https

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalog_changed()


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
        # A new item's count goes in through the ledger; an edit writes every column but the count.
        catalog.catalog_item_save(item=obj, actor=request.user)
        if change and form.cleaned_data.get("stock_change"):
            try:
                catalog.stock_adjust(
                    item=obj,
                    change=form.cleaned_data["stock_change"],
                    reason=form.cleaned_data["stock_reason"],
                    note=form.cleaned_data.get("stock_note", ""),
                    actor=request.user,
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
                result = catalog.codes_import(
                    item=form.cleaned_data["item"], file=form.cleaned_data["file"], actor=request.user
                )
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

"""Reward stores and orders in the console."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django_countries.fields import Country

from config.spreadsheets import csv_response
from rewards.catalog.models import CatalogItem
from rewards.orders import services as orders
from rewards.orders.models import Order, StoreItem
from tenants.admin_scoping import (
    NOBODY,
    BrandScopedAdmin,
    ReadOnlyBrandAdmin,
    is_operator,
)


@admin.register(StoreItem)
class StoreItemAdmin(BrandScopedAdmin):
    """A brand's reward store: items of the catalog, priced in the brand's credit."""

    list_display = ["item", "price", "active", "position"]
    list_filter = ["active"]
    search_fields = ["item__name", "item__sku"]
    list_select_related = ["item", "brand"]
    delete_roles = NOBODY  # orders point at them: take an item out of the store with `active`

    def save_model(self, request, obj, form, change):
        self.set_brand(request, obj, change)
        orders.store_item_save(store_item=obj, actor=request.user)

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
    # Who and where: the operator ships, the brand sees the country alone (DESIGN.md §1) — and not
    # the tracking number, which a carrier's site turns into where the customer lives.
    operator_only_fields = {"user", "shipping_address", "provider_lease_until", "tracking_number"}
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
            apply=lambda order, data: orders.order_ship(order=order, **data, actor=request.user),
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
            apply=lambda order, data: orders.order_cancel(order=order, reason=data["reason"], actor=request.user),
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

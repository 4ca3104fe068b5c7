from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from tenants import services
from tenants.admin_scoping import (
    EDITORS,
    NOBODY,
    OPERATOR,
    BrandScopedAdmin,
    ReadOnlyBrandAdmin,
    SecretsNotFilterable,
    admin_membership,
    is_operator,
)
from tenants.models import ApiKey, AuditEntry, Brand, Membership, Role, User

OWNERS = frozenset({OPERATOR, Role.OWNER})


@admin.register(User)
class UserAdmin(SecretsNotFilterable, DjangoUserAdmin):
    """Platform accounts: the operator's view only (brand staff have no model permissions)."""

    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_superuser", "is_active", "date_joined"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Personal info"), {"fields": ["first_name", "last_name"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Brand)
class BrandAdmin(BrandScopedAdmin):
    add_roles = frozenset({OPERATOR})
    change_roles = OWNERS
    delete_roles = NOBODY  # brands are suspended, never deleted: their ledger must stay whole
    list_display = ["name", "slug", "status", "monthly_cap", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "slug"]
    actions = ["suspend", "reactivate", "rotate_webhook_secret"]
    operator_fields = ["slug", "status", "monthly_cap"]

    def scope_queryset(self, queryset, brand):
        return queryset.filter(pk=brand.pk)

    def brand_id_of(self, obj):
        return obj.pk

    def get_fields(self, request, obj=None):
        fields = ["name", *self.operator_fields, "logo", "primary_colour", "support_email", "webhook_url"]
        if obj is not None and self._may_see_secret(request, obj):
            fields.append("webhook_signing_secret")
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = ["webhook_signing_secret"]
        if not is_operator(request):
            readonly += self.operator_fields
        elif obj is not None:
            readonly.append("slug")  # API tools and URLs know the brand by it
        return readonly

    def _may_see_secret(self, request, brand):
        membership = admin_membership(request)
        return is_operator(request) or (membership is not None and membership.role == Role.OWNER)

    @admin.display(description=_("webhook signing secret"))
    def webhook_signing_secret(self, obj):
        return format_html(
            '<code>{}</code><div class="help">{}</div>',
            obj.webhook_secret,
            _("It checks the Moments-Signature header, and Standard Webhooks libraries take it as it is."),
        )

    def save_model(self, request, obj, form, change):
        services.brand_save(brand=obj, actor=request.user)

    @admin.action(description=_("Suspend the selected brands (their API keys stop working)"), permissions=["operator"])
    def suspend(self, request, queryset):
        for brand in queryset:
            services.brand_set_status(brand=brand, status=Brand.Status.SUSPENDED, actor=request.user)
        self.message_user(request, _("Suspended %(count)d brand(s).") % {"count": len(queryset)})

    @admin.action(description=_("Reactivate the selected brands"), permissions=["operator"])
    def reactivate(self, request, queryset):
        for brand in queryset:
            services.brand_set_status(brand=brand, status=Brand.Status.ACTIVE, actor=request.user)
        self.message_user(request, _("Reactivated %(count)d brand(s).") % {"count": len(queryset)})

    @admin.action(description=_("Rotate the webhook signing secret"), permissions=["change"])
    def rotate_webhook_secret(self, request, queryset):
        for brand in queryset:
            services.brand_rotate_webhook_secret(brand=brand, actor=request.user)
        self.message_user(request, _("New signing secret made: update your webhook receiver."))


class MembershipAddForm(forms.ModelForm):
    """Invite someone by email: a dropdown of every account would show brands each other's users."""

    email = forms.EmailField(
        max_length=services.EMAIL_MAX_LENGTH,
        help_text=_("A new person gets an email with a link to set a password."),
    )
    request_brand = None  # set by BrandScopedAdmin.get_form for brand staff; the operator picks `brand`

    class Meta:
        model = Membership
        fields = ["role"]

    def clean(self):
        cleaned = super().clean()
        brand = self.request_brand or cleaned.get("brand")
        if brand and cleaned.get("email") and cleaned.get("role"):
            try:
                cleaned["email"] = services.membership_add_check(
                    brand=brand, email=cleaned["email"], role=cleaned["role"]
                )
            except services.TenantError as exc:
                raise ValidationError(str(exc)) from exc
        return cleaned


class MembershipChangeForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]

    def clean_role(self):
        role = self.cleaned_data["role"]
        try:
            services.membership_change_role_check(membership=Membership.objects.get(pk=self.instance.pk), role=role)
        except services.TenantError as exc:
            raise ValidationError(str(exc)) from exc
        return role


@admin.register(Membership)
class MembershipAdmin(BrandScopedAdmin):
    add_roles = change_roles = delete_roles = OWNERS
    list_display = ["user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email"]
    list_select_related = ["user", "brand"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = MembershipAddForm if obj is None else MembershipChangeForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*(["brand"] if self._brand_is_chosen_in_form(request, obj) else []), "email", "role"]
        return ["user", "role", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "created_at"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and not (obj is not None and services.membership_is_last_owner(obj))

    def save_model(self, request, obj, form, change):
        if change:
            saved = services.membership_change_role(membership=obj, role=form.cleaned_data["role"], actor=request.user)
        else:
            brand = form.request_brand or form.cleaned_data["brand"]
            saved = services.membership_add(
                brand=brand, email=form.cleaned_data["email"], role=obj.role, actor=request.user
            )
        # The admin goes on with `obj` (to log and redirect): make it the saved row.
        obj.pk, obj.user, obj.brand, obj._state.adding = saved.pk, saved.user, saved.brand, False

    def delete_model(self, request, obj):
        services.membership_remove(membership=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            try:
                services.membership_remove(membership=membership, actor=request.user)
            except services.TenantError as exc:
                self.message_user(request, f"{membership.user}: {exc}", messages.ERROR)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=80, required=False, help_text=_("What will use this key, e.g. 'Android app backend'.")
    )
    mode = forms.ChoiceField(
        choices=ApiKey.Mode.choices,
        help_text=_("Test keys earn test moments: never charged, fulfilled by simulation only."),
    )


class OperatorApiKeyCreateForm(ApiKeyCreateForm):
    brand = forms.ModelChoiceField(queryset=Brand.objects.all())
    field_order = ["brand", "name", "mode"]


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", _("active")), ("revoked", _("revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(BrandScopedAdmin):
    follows_test_data_switch = False  # a brand keeps its live and test keys on one page
    add_roles = change_roles = EDITORS
    delete_roles = NOBODY  # a key is revoked, never deleted, so its history stays readable
    list_display = ["prefix", "name", "mode", "status", "last_used_at"]
    list_filter = ["mode", ApiKeyStatusFilter, "created_by"]
    search_fields = ["prefix", "name"]
    list_select_related = ["created_by", "brand"]
    fields = ["name", "prefix", "mode", "status", "creator", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "mode", "status", "creator", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description=_("status"))
    def status(self, obj):
        return _("revoked") if obj.is_revoked else _("active")

    @admin.display(description=_("created by"))
    def creator(self, obj):
        # Plain text: brand staff may not open user accounts, so a link would lead nowhere.
        return obj.created_by.email if obj.created_by else _("a command-line script")

    def save_model(self, request, obj, form, change):
        services.api_key_rename(api_key=obj, name=form.cleaned_data["name"])

    def has_change_permission(self, request, obj=None):
        # A revoked key is history: nothing about it changes any more.
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_revoked)

    def get_urls(self):
        revoke = self.admin_site.admin_view(self.revoke_view)
        return [path("<path:object_id>/revoke/", revoke, name="tenants_apikey_revoke"), *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        """Create a key with the service and show its secret on this one response, never again."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form_class = OperatorApiKeyCreateForm if is_operator(request) else ApiKeyCreateForm
        form = form_class(request.POST or None)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": _("New API key")}
        if request.method == "POST" and form.is_valid():
            brand = form.cleaned_data.get("brand") or admin_membership(request).brand
            issued = services.api_key_create(
                brand=brand, mode=form.cleaned_data["mode"], name=form.cleaned_data["name"], actor=request.user
            )
            self.log_addition(request, issued.api_key, [{"added": {}}])
            context.update(title=_("API key created"), issued=issued)
            # admin_view marks every admin response never_cache, so the secret is not stored by the browser.
            return TemplateResponse(request, "admin/tenants/apikey/created.html", context)
        context["form"] = form
        return TemplateResponse(request, "admin/tenants/apikey/add.html", context)

    def revoke_view(self, request, object_id):
        api_key = self.get_object(request, object_id)
        response = self._confirm_revoke(request, [api_key])
        return response or HttpResponseRedirect(reverse("admin:tenants_apikey_change", args=[api_key.pk]))

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        return self._confirm_revoke(request, queryset)

    def _confirm_revoke(self, request, api_keys):
        """Revoking cannot be undone, so a confirmation page comes first."""
        keys = [key for key in api_keys if not key.is_revoked]
        if not all(self.has_change_permission(request, key) for key in keys):
            raise PermissionDenied
        if request.POST.get("confirm") == "yes":
            with transaction.atomic():
                for key in keys:
                    services.api_key_revoke(api_key=key, actor=request.user)
                    self.log_change(request, key, [{"changed": {"fields": ["revoked_at"]}}])
            self.message_user(request, _("Revoked %(count)d key(s).") % {"count": len(keys)})
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Revoke API keys?"),
            "keys": keys,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/tenants/apikey/revoke_confirm.html", context)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyBrandAdmin):
    """The audit trail, read only: a brand reads its own entries; the operator reads every one,
    the platform's own (policy, stock, the catalog, code imports) included. Brand staff see who
    acted by email only when it was one of their own staff — and whose role a staff change was
    about likewise; the operator's people are "the Moments operator" to them, and values the
    operator alone may read (a tracking number) are withheld."""

    list_display = ["at", "action", "object_repr", "object_id"]
    list_filter = ["action", "actor_kind", "at"]
    search_fields = ["=object_id"]
    list_select_related = ["brand"]

    def get_queryset(self, request):
        # Whether the actor is one of the brand's staff now, for the brand's "by" column.
        member = Membership.objects.filter(brand=OuterRef("brand"), user=OuterRef("actor"))
        return super().get_queryset(request).annotate(actor_is_member=Exists(member))

    def get_fields(self, request, obj=None):
        fields = ["at", "action", self._by(request), "object_type", "object_id", "object_repr", self._changes(request)]
        return ["brand", *fields] if is_operator(request) else fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_list_display(self, request):
        columns = [*self.list_display, self._by(request)]
        return ["at", "brand", *columns[1:]] if is_operator(request) else columns

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        return [*filters, "brand"] if is_operator(request) else filters

    def _by(self, request):
        return "by_for_operator" if is_operator(request) else "by_for_brand"

    def _changes(self, request):
        return "changes_for_operator" if is_operator(request) else "changes_for_brand"

    @admin.display(description=_("by"))
    def by_for_operator(self, entry):
        if entry.actor_kind == AuditEntry.ActorKind.API_KEY:
            return _("API key %(prefix)s…") % {"prefix": entry.api_key}
        return entry.actor_label or entry.get_actor_kind_display()

    @admin.display(description=_("by"))
    def by_for_brand(self, entry):
        if entry.actor_kind == AuditEntry.ActorKind.STAFF:
            # An email the brand knows: one of its staff. Of anyone else, that they were staff.
            return entry.actor_label if entry.actor_is_member else _("someone no longer on your staff")
        if entry.actor_kind == AuditEntry.ActorKind.OPERATOR:
            return _("the Moments operator")
        return self.by_for_operator(entry)

    @admin.display(description=_("changes"))
    def changes_for_operator(self, entry):
        return self._change_table(entry, withheld=())

    @admin.display(description=_("changes"))
    def changes_for_brand(self, entry):
        withheld = set(entry.brand_hidden)
        if "email" in withheld and self._of_current_staff(entry):
            withheld.discard("email")  # a staff change's person, shown like the "by" column's staff
        return self._change_table(entry, withheld=withheld)

    @staticmethod
    def _of_current_staff(entry) -> bool:
        """Whether the person a staff change is about (`user` in its before or after) is on the
        entry's brand's staff now: the brand sees their email then, and only then."""
        user = entry.after.get("user", entry.before.get("user"))
        if entry.object_type != "tenants.membership" or user is None:
            return False
        return Membership.objects.filter(brand_id=entry.brand_id, user_id=user).exists()

    def _change_table(self, entry, withheld):
        def shown(values, name):
            if name not in values:
                return "—"
            return _("(withheld)") if name in withheld else _as_text(values[name])

        names = [*entry.before, *(name for name in entry.after if name not in entry.before)]
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            ((name, shown(entry.before, name), shown(entry.after, name)) for name in names),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("field"),
            _("before"),
            _("after"),
            rows,
        )


def _as_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return str(value)

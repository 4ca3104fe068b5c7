"""The brand console: one base admin that scopes every tenant-owned model to the staff user's brand.

A brand's staff user works in one brand at a time (chosen in the header when they belong to
several). Every change list, change page, foreign-key choice, filter, search and bulk action goes
through `get_queryset`, which this base narrows to that brand; another brand's object answers 404,
exactly like one that does not exist. The operator (a superuser) sees every brand and can filter
by brand. The "test data" switch (a session flag, like Stripe's) shows either the live rows or
the test rows of every model that has a mode, never both. Roles decide what may change: owners
and managers edit, analysts only read, and a suspended brand's staff only read. A list answers
only the filters its admin declares (a lookup on any other field in the URL is a 400), and no
admin filters on a secret (`secret_fields`).
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpResponseRedirect

from tenants.models import ApiKey, Brand, BrandOwned, Membership, Role, User
from tenants.selectors import memberships_of

SESSION_BRAND_KEY = "admin_brand_id"
SESSION_TEST_DATA_KEY = "admin_test_data"
# The operator is not a brand role; it appears in the role sets so that each admin says plainly
# whether the operator, too, may add, change or delete (an empty set: nobody may).
OPERATOR = "operator"
# The admin's own query-string parameters that reach `lookup_allowed` yet filter nothing
# (`o`, `q`, `p`, `e`, `_facets`, `_popup`, `_to_field` never reach it).
NOT_LOOKUPS = frozenset({"_changelist_filters"})
EDITORS = frozenset({OPERATOR, Role.OWNER, Role.MANAGER})
NOBODY = frozenset()


def admin_memberships(request) -> list[Membership]:
    """The memberships of the signed-in user, read once per request."""
    if not hasattr(request, "_admin_memberships"):
        request._admin_memberships = list(memberships_of(request.user))
    return request._admin_memberships


def admin_membership(request) -> Membership | None:
    """The membership the staff user is working in, or None for the operator and for outsiders."""
    if request.user.is_superuser:
        return None
    memberships = admin_memberships(request)
    chosen = request.session.get(SESSION_BRAND_KEY)
    for membership in memberships:
        if str(membership.brand_id) == chosen:
            return membership
    return memberships[0] if memberships else None


def admin_mode(request) -> str:
    """The mode whose rows the console shows: test while the "test data" switch is on."""
    return ApiKey.Mode.TEST if request.session.get(SESSION_TEST_DATA_KEY) else ApiKey.Mode.LIVE


def has_mode(model) -> bool:
    try:
        model._meta.get_field("mode")
    except FieldDoesNotExist:
        return False
    return True


def is_operator(request) -> bool:
    return request.user.is_active and request.user.is_superuser


def lookup_reads_secret(model, lookup: str) -> bool:
    """Whether a query-string lookup reads a field that its model lists in `secret_fields` (codes,
    token and key hashes, webhook secrets, passwords), on the model itself or through relations."""
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or a lookup (`startswith`): the path has ended
        if field.name in getattr(model, "secret_fields", ()):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


class SecretsNotFilterable:
    """For every admin of the site: a list is never filtered on a secret, whoever asks. Filtering
    answers "one row or none", so a filter on a field reads it one character at a time, shown or
    not. Django then refuses the request (DisallowedModelAdminLookup: 400)."""

    def lookup_allowed(self, lookup, value, request=None):
        return not lookup_reads_secret(self.model, lookup) and super().lookup_allowed(lookup, value, request)


class BrandScopedAdmin(SecretsNotFilterable, admin.ModelAdmin):
    """Base of every admin over tenant data. Subclasses say which roles may add, change, delete."""

    add_roles = EDITORS
    change_roles = EDITORS
    delete_roles = EDITORS
    # Rows with a mode show the switch's mode only; an admin that lists both (the API keys) says not.
    follows_test_data_switch = True
    # A URL typed without a scheme is https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # --- which rows ---------------------------------------------------------------------------

    def scope_queryset(self, queryset, brand):
        return queryset.filter(brand=brand)

    def brand_id_of(self, obj):
        return obj.brand_id

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.follows_test_data_switch and has_mode(self.model):
            queryset = queryset.filter(mode=admin_mode(request))
        if is_operator(request):
            return queryset
        membership = admin_membership(request)
        if membership is None:
            return queryset.none()
        return self.scope_queryset(queryset, membership.brand)

    def changelist_view(self, request, extra_context=None):
        # A selection that is not even a valid id (a tampered form) is refused with a message,
        # instead of the error Django's admin raises deep inside the action.
        selected = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME) if request.method == "POST" else []
        try:
            for value in selected:
                self.model._meta.pk.to_python(value)
        except ValidationError:
            self.message_user(request, "That selection is not valid; nothing was done.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)

    def get_object(self, request, object_id, from_field=None):
        # Django's admin redirects on a missing object; "not yours" must look like "not there".
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object.")
        return obj

    # --- who may do what ----------------------------------------------------------------------

    def _role_may(self, request, roles, obj=None) -> bool:
        if is_operator(request):
            return OPERATOR in roles
        membership = admin_membership(request)
        if membership is None or not membership.brand.is_active or membership.role not in roles:
            return False
        return obj is None or self.brand_id_of(obj) == membership.brand_id

    def has_operator_permission(self, request):
        """For actions only the operator may run (`@admin.action(permissions=["operator"])`)."""
        return is_operator(request)

    def has_module_permission(self, request):
        return is_operator(request) or admin_membership(request) is not None

    def has_view_permission(self, request, obj=None):
        if is_operator(request):
            return True
        membership = admin_membership(request)
        return membership is not None and (obj is None or self.brand_id_of(obj) == membership.brand_id)

    def has_add_permission(self, request):
        return self._role_may(request, self.add_roles)

    def has_change_permission(self, request, obj=None):
        return self._role_may(request, self.change_roles, obj)

    def has_delete_permission(self, request, obj=None):
        return self._role_may(request, self.delete_roles, obj)

    # --- forms: the brand comes from the membership, choices from the brand -------------------

    def _brand_is_chosen_in_form(self, request, obj) -> bool:
        """Only the operator picks a brand, and only when creating: objects never change brand."""
        return is_operator(request) and obj is None and issubclass(self.model, BrandOwned)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Forms whose rules depend on the brand (a unique slug, a cap) read it from here, never
        # from posted data: the membership's brand, or None for the operator (who picks one).
        form = super().get_form(request, obj, change, **kwargs)
        membership = admin_membership(request)
        form.request_brand = membership.brand if membership else None
        return form

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if issubclass(self.model, BrandOwned) and not self._brand_is_chosen_in_form(request, obj):
            exclude.append("brand")
        return exclude

    def get_fields(self, request, obj=None):
        fields = [name for name in super().get_fields(request, obj) if name != "brand"]
        if self._brand_is_chosen_in_form(request, obj):
            return ["brand", *fields]
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.fieldsets and self._brand_is_chosen_in_form(request, obj):
            return [(None, {"fields": ["brand"]}), *fieldsets]
        return fieldsets

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return self._scope_formfield(super().formfield_for_foreignkey(db_field, request, **kwargs), request)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return self._scope_formfield(super().formfield_for_manytomany(db_field, request, **kwargs), request)

    def _scope_formfield(self, formfield, request):
        membership = admin_membership(request)
        if formfield is not None and membership is not None:
            formfield.queryset = scope_choices(formfield.queryset, membership.brand)
        return formfield

    def save_model(self, request, obj, form, change):
        self.set_brand(request, obj, change)
        super().save_model(request, obj, form, change)

    def set_brand(self, request, obj, change) -> None:
        """A row brand staff add is their brand's (the operator picks the brand in the form); for
        admins that save through a service rather than `super().save_model`."""
        if not change and isinstance(obj, BrandOwned) and not is_operator(request):
            obj.brand = admin_membership(request).brand

    # --- lists ------------------------------------------------------------------------------

    def get_list_filter(self, request):
        # Related filters offer only what the listed rows point to — for the operator too, whose
        # "created by" must not list every account on the platform.
        filters = [self._scoped_filter(spec) for spec in super().get_list_filter(request)]
        if is_operator(request) and issubclass(self.model, BrandOwned):
            filters.insert(0, "brand")
        return filters

    def _scoped_filter(self, spec):
        if isinstance(spec, str) and get_fields_from_path(self.model, spec)[-1].is_relation:
            return (spec, admin.RelatedOnlyFieldListFilter)
        return spec

    def lookup_allowed(self, lookup, value, request=None):
        """Brand staff filter a list only through the filters its admin declares (and its date
        hierarchy). Any other lookup in the URL (a field hidden from display, a path through a
        relation to a customer's account) is refused, even though Django allows lookups on every
        field of the model. The operator keeps Django's rules; secrets are refused to everyone."""
        if not super().lookup_allowed(lookup, value, request):
            return False
        if lookup in NOT_LOOKUPS or (request is not None and is_operator(request)):
            return True
        return request is not None and lookup in self._declared_lookups(request)

    def _declared_lookups(self, request) -> frozenset:
        """The query-string names this list's filters read, worked out once per request."""
        per_request = request.__dict__.setdefault("_admin_declared_lookups", {})
        if self not in per_request:
            names = set()
            for spec in self.get_list_filter(request):
                names.update(self._filter_parameters(request, spec))
            if self.date_hierarchy:
                names.update(f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day"))
            per_request[self] = frozenset(names)
        return per_request[self]

    def _filter_parameters(self, request, spec):
        if isinstance(spec, type) and issubclass(spec, admin.SimpleListFilter):
            return [spec.parameter_name]
        if isinstance(spec, (list, tuple)):
            field_path, filter_class = spec
        elif isinstance(spec, str):
            field_path, filter_class = spec, admin.FieldListFilter.create
        else:  # another kind of ListFilter class
            return spec(request, {}, self.model, self).expected_parameters()
        if isinstance(field_path, models.Field):
            field, field_path = field_path, None
        else:
            field = get_fields_from_path(self.model, field_path)[-1]
        # A filter built with no parameters says which it reads (`status__exact`, `item__id__exact`...).
        spec = filter_class(field, request, {}, self.model, self, field_path=field_path)
        return spec.expected_parameters()

    def get_ordering(self, request):
        # Lists page through rows and so does the autocomplete: an order even where the model has
        # none (the newest first, as the change list already did).
        return super().get_ordering(request) or ([] if self.model._meta.ordering else ["-pk"])

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if is_operator(request) and issubclass(self.model, BrandOwned):
            columns.insert(1, "brand")  # beside the object's name, where the operator looks first
        return columns


def scope_choices(queryset, brand):
    """Narrow a form's choices to what belongs to the brand: its rows, itself, its staff, and the
    platform's shared models (`platform_wide = True`, the catalog). Anything else offers nothing,
    so a model added later cannot leak by default."""
    model = queryset.model
    if issubclass(model, BrandOwned):
        return queryset.filter(brand=brand)
    if model is Brand:
        return queryset.filter(pk=brand.pk)
    if model is User:
        return queryset.filter(memberships__brand=brand)
    if getattr(model, "platform_wide", False):
        return queryset
    return queryset.none()


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

    def get_list_display(self, request):
        hidden = self._hidden_from(request)
        return [name for name in super().get_list_display(request) if name not in hidden]

    def get_search_fields(self, request):
        # A search is a filter: a brand must not find a row by what it may not see.
        hidden = self._hidden_from(request)
        return [name for name in super().get_search_fields(request) if name.lstrip("=^@") not in hidden]

    def _hidden_from(self, request):
        return self.hidden_fields if is_operator(request) else self.hidden_fields | self.operator_only_fields

    hidden_fields = {"brand"}
    # Who the end user is and where they live: shown to the operator, who fulfils; never to a brand.
    operator_only_fields = frozenset()

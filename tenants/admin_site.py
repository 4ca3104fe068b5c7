import functools

from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from tenants.accounts import needs_second_factor
from tenants.admin_scoping import (
    SESSION_BRAND_KEY,
    SESSION_TEST_DATA_KEY,
    admin_membership,
    admin_memberships,
    admin_mode,
    is_operator,
)
from tenants.scoping import across_brands, brand_scope, rendered


class MomentsAdminSite(admin.AdminSite):
    """The admin is the operator's console and, scoped to one brand, each brand's console."""

    site_header = "Moments"
    site_title = "Moments admin"
    index_title = "Console"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages = []

    def register_page(self, route: str, view, name: str) -> None:
        """A console page that is no model's (an app's own tool, e.g. the test clock): served like
        every admin page, in the staff user's brand scope."""
        self._pages.append((route, view, name))

    def has_permission(self, request):
        # Staff of a brand enter through a membership; other staff accounts see nothing.
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return is_operator(request) or admin_membership(request) is not None

    def admin_view(self, view, cacheable=False):
        """Every console page runs in the brand its staff user works in; the operator's, across
        brands (the operator's console is the one place that sees every brand)."""

        @functools.wraps(view)
        def in_scope(request, *args, **kwargs):
            if needs_second_factor(request.user):
                # Staff set up a second factor before the console opens (STAFF_MFA_REQUIRED).
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('mfa_activate_totp')}?{query}")
            if is_operator(request):
                with across_brands():
                    return rendered(view(request, *args, **kwargs))
            membership = admin_membership(request) if request.user.is_active and request.user.is_staff else None
            if membership is None:
                return view(request, *args, **kwargs)  # no brand: admin_view refuses or asks to sign in
            with brand_scope(membership.brand_id):
                return rendered(view(request, *args, **kwargs))

        return super().admin_view(in_scope, cacheable)

    def login(self, request, extra_context=None):
        """Staff sign in through allauth's one flow (its rate limits and second factor), not the
        admin's own form, which has neither."""
        query = urlencode({"next": request.GET.get("next") or reverse("admin:index")})
        return HttpResponseRedirect(f"{reverse('account_login')}?{query}")

    def each_context(self, request):
        context = super().each_context(request)
        context["test_data"] = admin_mode(request) == "test"
        if request.user.is_authenticated and not is_operator(request):
            context["current_membership"] = admin_membership(request)
            context["memberships"] = admin_memberships(request)
        return context

    def index(self, request, extra_context=None):
        membership = admin_membership(request)
        title = _("%(brand)s console") % {"brand": membership.brand.name} if membership else _("Operator console")
        return super().index(request, {"title": title, **(extra_context or {})})

    def get_urls(self):
        return [
            path("switch-brand/", self.admin_view(self.switch_brand), name="switch_brand"),
            path("test-data/", self.admin_view(self.switch_test_data), name="switch_test_data"),
            *[path(route, self.admin_view(view), name=name) for route, view, name in self._pages],
            *super().get_urls(),
        ]

    def switch_test_data(self, request):
        """Show test data (campaigns, moments, orders, reports of test mode) or live data."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        test_data = request.POST.get("test_data") == "on"
        request.session[SESSION_TEST_DATA_KEY] = test_data
        if test_data:
            messages.warning(request, _("Viewing test data: nothing here is charged, shipped or real."))
        else:
            messages.success(request, _("Viewing live data."))
        # An object of one mode is not found in the other: start again from the index.
        return HttpResponseRedirect(reverse("admin:index"))

    def switch_brand(self, request):
        """Work in another of the user's brands; only brands the user belongs to can be chosen."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        wanted = request.POST.get("brand", "")
        membership = next((m for m in admin_memberships(request) if str(m.brand_id) == wanted), None)
        if membership is None:
            messages.error(request, _("You are not a member of that brand."))
        else:
            request.session[SESSION_BRAND_KEY] = str(membership.brand_id)
            messages.success(request, _("Now working in %(brand)s.") % {"brand": membership.brand.name})
        # Pages of the old brand make no sense in the new one: start again from the index.
        return HttpResponseRedirect(reverse("admin:index"))

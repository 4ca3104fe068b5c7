"""The storefront: thin views over storefront.services and storefront.selectors."""

import json
import logging
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.cache import cache
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from config.cache import count_in_window
from config.clients import client_address
from config.errors import too_many_requests
from rewards.campaigns.selectors import campaign_rewards
from rewards.models import CatalogItem, Mode
from rewards.moments.claims import claim_token
from rewards.orders import services as orders
from storefront import selectors, services
from storefront.forms import AddressForm, DeleteAccountForm
from storefront.session_keys import PENDING_CLAIM, PENDING_TEST_CLAIM
from tenants.models import Brand
from tenants.scoping import across_brands, brand_scope, rendered

logger = logging.getLogger(__name__)


class HomeView(TemplateView):
    """The front door: what Moments is, and where brands and developers go next."""

    template_name = "storefront/home.html"


class ContinueView(LoginRequiredMixin, View):
    """Where sign-in and sign-up land: back to the claim that sent the person here, if any."""

    def get(self, request):
        token = request.session.pop(PENDING_CLAIM, None)
        request.session.pop(PENDING_TEST_CLAIM, None)
        if token:
            return HttpResponseRedirect(reverse("storefront:claim", args=[token]))
        return HttpResponseRedirect(reverse("storefront:rewards"))


@method_decorator(never_cache, name="dispatch")
class AccountPage(LoginRequiredMixin):
    """The customer's own pages read the account's rows in every brand it has rewards from: across
    brands on purpose, and only the account's (every storefront selector filters by the user)."""

    def dispatch(self, request, *args, **kwargs):
        with across_brands():
            return rendered(super().dispatch(request, *args, **kwargs))


def _in_brand_scope(brand_id, view, *args, **kwargs):
    """Run a page of one brand (a claim, a store) in that brand's scope (tenants/scoping.py)."""
    with brand_scope(brand_id):
        return rendered(view(*args, **kwargs))


# --- Claiming ---------------------------------------------------------------------------------


@method_decorator(never_cache, name="dispatch")
class ClaimMixin:
    """Resolves the token (404 when forged), enters its brand's scope and answers every state that
    cannot be claimed."""

    def dispatch(self, request, token, *args, **kwargs):
        # Guessing is bounded per client: past CLAIM_MISSES_PER_CLIENT unknown tokens in the window,
        # every claim page answers 429 until the window ends (the token itself is never logged).
        client = client_address(request)
        misses_key = f"claim-misses:{client}"
        if (cache.get(misses_key) or 0) >= settings.CLAIM_MISSES_PER_CLIENT:
            response = too_many_requests(request)  # which logs the refusal
            response["Retry-After"] = str(settings.CLAIM_MISSES_WINDOW_SECONDS)
            return response
        self.token = token
        try:
            self.moment = selectors.moment_for_token(token)
        except Http404:
            misses = count_in_window(misses_key, timeout=settings.CLAIM_MISSES_WINDOW_SECONDS)
            logger.warning("claim link not found: client=%s misses=%d", client, misses)
            raise
        return _in_brand_scope(self.moment.brand_id, self.claim_dispatch, request, token, *args, **kwargs)

    def claim_dispatch(self, request, token, *args, **kwargs):
        state = services.claim_state(self.moment)
        if not state.claimable:
            # A used link shows the order to the account that claimed it.
            if state.name == "used" and request.user.is_authenticated and self.moment.account_id == request.user.pk:
                order = getattr(self.moment, "order", None)
                if order is not None:
                    return HttpResponseRedirect(reverse("storefront:order", args=[order.pk]))
            context = {
                "moment": self.moment,
                "brand": self.moment.brand,  # the page wears the brand's colour too (base.html)
                "message": services.CLAIM_STATE_MESSAGES[state.name],
                "state": state.name,
                "test_mode": self.moment.mode == Mode.TEST,
            }
            return render(request, "storefront/claim_closed.html", context, status=410)
        return super().dispatch(request, token, *args, **kwargs)

    def context(self, **extra):
        return {
            "moment": self.moment,
            "brand": self.moment.brand,
            "token": self.token,
            "rewards": campaign_rewards(self.moment.campaign),
            "test_mode": self.moment.mode == Mode.TEST,  # every page of a test claim says so (base.html)
            **extra,
        }

    def conflict_response(self, request):
        if self.moment.mode == Mode.TEST:
            return None  # a test claim links nothing, so nothing can stand in its way
        conflict = services.link_conflict(user=request.user, moment=self.moment)
        if conflict:
            return render(request, "storefront/claim_refused.html", self.context(message=conflict), status=403)
        return None


class ClaimView(ClaimMixin, View):
    def get(self, request, token):
        if not request.user.is_authenticated:
            request.session[PENDING_CLAIM] = token
            request.session[PENDING_TEST_CLAIM] = self.moment.mode == Mode.TEST
            return render(request, "storefront/claim.html", self.context())
        refused = self.conflict_response(request)
        if refused:
            return refused
        rewards = campaign_rewards(self.moment.campaign)
        if len(rewards) == 1:
            return HttpResponseRedirect(reverse("storefront:claim-item", args=[token, rewards[0].sku]))
        return render(request, "storefront/claim.html", self.context())


class ClaimItemView(LoginRequiredMixin, ClaimMixin, View):
    """The chosen reward: a shipping address for a physical item, then the review."""

    def setup_item(self, sku):
        self.item = next((item for item in campaign_rewards(self.moment.campaign) if item.sku == sku), None)
        if self.item is None:
            raise Http404("not a reward of this campaign")

    def get(self, request, token, sku):
        self.setup_item(sku)
        refused = self.conflict_response(request)
        if refused:
            return refused
        if self.item.kind != CatalogItem.Kind.PHYSICAL:
            return render(request, "storefront/claim_review.html", self.context(item=self.item))
        address_id = request.GET.get("address")
        if address_id:
            address = selectors.address_of(request.user, _uuid_or_404(address_id))
            refusal = self.refusal(address)
            return render(
                request,
                "storefront/claim_review.html",
                self.context(item=self.item, address=address, refusal=refusal),
            )
        return self.address_page(request, AddressForm())

    def post(self, request, token, sku):
        """A new address, from the address step: saved to the address book, then the review."""
        self.setup_item(sku)
        form = AddressForm(request.POST)
        if not form.is_valid():
            return self.address_page(request, form, status=400)
        address = form.save(commit=False)
        refusal = self.refusal(address)
        if refusal:  # said now, where the country is chosen, rather than on the review
            form.add_error("country", refusal)
            return self.address_page(request, form, status=400)
        address.user = request.user
        services.address_save(address=address)
        return HttpResponseRedirect(reverse("storefront:claim-item", args=[token, sku]) + f"?address={address.pk}")

    def refusal(self, address) -> str | None:
        return orders.shipping_refusal(item=self.item, country=address.country.code, campaign=self.moment.campaign)

    def address_page(self, request, form, status=200):
        addresses = list(selectors.addresses_of(request.user))
        refusals = orders.shipping_refusals(
            item=self.item, countries={address.country.code for address in addresses}, campaign=self.moment.campaign
        )
        for address in addresses:  # those the item cannot reach are shown with the reason, not offered
            address.refusal = refusals[address.country.code]
        reachable = [address for address in addresses if not address.refusal]
        context = self.context(
            item=self.item, form=form, addresses=addresses, first_reachable=reachable[0] if reachable else None
        )
        return render(request, "storefront/claim_address.html", context, status=status)


class ClaimConfirmView(LoginRequiredMixin, ClaimMixin, View):
    def post(self, request, token, sku):
        item = next((i for i in campaign_rewards(self.moment.campaign) if i.sku == sku), None)
        if item is None:
            raise Http404("not a reward of this campaign")
        address_id = request.POST.get("address")
        address = selectors.address_of(request.user, _uuid_or_404(address_id)) if address_id else None
        try:
            order = services.claim_confirm(user=request.user, moment=self.moment, item=item, address=address)
        except services.Refused as refused:
            return render(
                request, "storefront/claim_refused.html", self.context(message=str(refused), item=item), status=409
            )
        services.account_language_set(user=request.user, language=request.LANGUAGE_CODE)
        if item.kind == CatalogItem.Kind.DONATION:
            messages.success(request, _("Thank you! Your donation is on its way to the charity."))
        else:
            messages.success(request, _("Your reward is on its way."))
        return HttpResponseRedirect(reverse("storefront:order", args=[order.pk]))


def _uuid_or_404(value):
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Http404("no such object") from exc


# --- The account's pages ----------------------------------------------------------------------


class MyRewardsView(AccountPage, TemplateView):
    template_name = "storefront/my_rewards.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        placed = list(selectors.orders_of(user).prefetch_related("events"))
        ordered_moments = {order.moment_id for order in placed}
        moments = [
            m
            for m in selectors.moments_of_account(user).select_related("donation")
            if m.pk not in ordered_moments and not hasattr(m, "donation")  # gifts: totalled below
        ]
        to_claim, others = [], []
        for moment in moments:  # newest first: a linked brand user's rewards to claim, then the rest
            if services.claim_state(moment).claimable:
                moment.claim_path = reverse("storefront:claim", args=[claim_token(moment.pk)])
                to_claim.append(moment)
            else:
                others.append(moment)
        return {
            **super().get_context_data(**kwargs),
            "orders": placed,
            "to_claim": to_claim,
            "moments": others,
            "donations": selectors.donations_of_account(user),
            "wallets": selectors.wallets_of(user),
        }


class OrderView(AccountPage, TemplateView):
    template_name = "storefront/order.html"

    def get_context_data(self, **kwargs):
        order = selectors.order_of(self.request.user, kwargs["order_id"])
        donation = getattr(order.moment, "donation", None) if order.moment_id else None
        return {
            **super().get_context_data(**kwargs),
            "order": order,
            "brand": order.brand,
            "donation": donation,
            "test_mode": order.mode == Mode.TEST,
        }


class AccountView(AccountPage, TemplateView):
    template_name = "storefront/account.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        return {
            **super().get_context_data(**kwargs),
            "addresses": selectors.addresses_of(user),
            "links": selectors.links_of(user),
        }


class AddressEditView(AccountPage, View):
    """Add (no id) or change an address of the account's address book."""

    def get(self, request, address_id=None):
        address = selectors.address_of(request.user, address_id) if address_id else None
        return render(
            request, "storefront/address_form.html", {"form": AddressForm(instance=address), "address": address}
        )

    def post(self, request, address_id=None):
        address = selectors.address_of(request.user, address_id) if address_id else None
        form = AddressForm(request.POST, instance=address)
        if not form.is_valid():
            return render(request, "storefront/address_form.html", {"form": form, "address": address}, status=400)
        saved = form.save(commit=False)
        saved.user = request.user
        services.address_save(address=saved)
        messages.success(request, _("Address saved."))
        return HttpResponseRedirect(reverse("storefront:account"))


class AddressDeleteView(AccountPage, View):
    def post(self, request, address_id):
        services.address_delete(address=selectors.address_of(request.user, address_id))
        messages.success(request, _("Address removed."))
        return HttpResponseRedirect(reverse("storefront:account"))


class UnlinkView(AccountPage, View):
    def post(self, request, link_id):
        link = selectors.link_of(request.user, link_id)
        services.brand_unlink(link=link)
        messages.success(request, _("%(brand)s is no longer linked to your account.") % {"brand": link.brand.name})
        return HttpResponseRedirect(reverse("storefront:account"))


class ExportView(AccountPage, View):
    def get(self, request):
        body = json.dumps(services.account_export(user=request.user), indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="moments-account.json"'
        return response


class DeleteAccountView(AccountPage, View):
    def get(self, request):
        return render(request, "storefront/delete_account.html", {"form": DeleteAccountForm()})

    def post(self, request):
        form = DeleteAccountForm(request.POST)
        if not form.is_valid():
            return render(request, "storefront/delete_account.html", {"form": form}, status=400)
        user = request.user
        logout(request)
        services.account_delete(user=user)
        messages.success(request, _("Your account has been deleted."))
        return HttpResponseRedirect(reverse("storefront:home"))


# --- The brand's reward store -----------------------------------------------------------------


class StorePage:
    """A brand's reward store: its pages run in that brand's scope, in live mode or, with
    `?mode=test`, in test mode (test credit, simulated orders)."""

    def dispatch(self, request, slug, *args, **kwargs):
        self.brand = get_object_or_404(Brand, slug=slug, status=Brand.Status.ACTIVE)
        self.mode = Mode.TEST if request.GET.get("mode") == Mode.TEST else Mode.LIVE
        return _in_brand_scope(self.brand.pk, super().dispatch, request, *args, slug=slug, **kwargs)

    def mode_context(self) -> dict:
        test = self.mode == Mode.TEST
        return {"test_mode": test, "mode_query": "?mode=test" if test else ""}


class StoreView(StorePage, TemplateView):
    template_name = "storefront/store.html"

    def get_context_data(self, **kwargs):
        brand, user = self.brand, self.request.user
        balance = selectors.store_balance(user, brand, self.mode) if user.is_authenticated else None
        return {
            **super().get_context_data(**kwargs),
            "brand": brand,
            "shelf": selectors.store_shelf(brand, balance),
            "balance": balance,
            "purchases": selectors.store_purchases(user, brand, self.mode) if user.is_authenticated else [],
            **self.mode_context(),
        }


@method_decorator(never_cache, name="dispatch")  # it lists the account's addresses
class StoreBuyView(LoginRequiredMixin, StorePage, View):
    """Buy one store item: an address first for a physical item, then the purchase."""

    def setup_item(self, slug, store_item_id):
        self.store_item = get_object_or_404(selectors.store_items(self.brand), pk=store_item_id)

    def store_buy_url(self, slug, store_item_id) -> str:
        return reverse("storefront:store-buy", args=[slug, store_item_id]) + self.mode_context()["mode_query"]

    def get(self, request, slug, store_item_id):
        self.setup_item(slug, store_item_id)
        balance = selectors.store_balance(request.user, self.brand, self.mode)
        context = {
            "brand": self.brand,
            "store_item": self.store_item,
            "addresses": selectors.addresses_of(request.user),
            "balance": balance,
            "shortfall": self.store_item.price - balance if self.store_item.price > balance else None,
            **self.mode_context(),
        }
        return render(request, "storefront/store_buy.html", context)

    def post(self, request, slug, store_item_id):
        self.setup_item(slug, store_item_id)
        address_id = request.POST.get("address")
        address = selectors.address_of(request.user, _uuid_or_404(address_id)) if address_id else None
        try:
            order = orders.store_checkout(
                user=request.user,
                store_item=self.store_item,
                mode=self.mode,
                shipping_address=address.snapshot() if address else None,
            )
        except services.Refused as refused:
            messages.error(request, str(refused))
            return HttpResponseRedirect(self.store_buy_url(slug, store_item_id))
        services.account_language_set(user=request.user, language=request.LANGUAGE_CODE)
        messages.success(request, _("Thank you! Your order is placed."))
        return HttpResponseRedirect(reverse("storefront:order", args=[order.pk]))

from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from rewards.claims import claim_token_hash
from rewards.models import Moment
from rewards.selectors import campaign_rewards


class HomeView(TemplateView):
    """The front door: what Moments is, and where brands and developers go next."""

    template_name = "storefront/home.html"


class ClaimView(TemplateView):
    """The page behind a moment's claim URL; a token that matches no moment is a 404."""

    template_name = "storefront/claim.html"

    def get_context_data(self, **kwargs):
        moment = get_object_or_404(
            Moment.objects.select_related("campaign", "brand"), claim_token_hash=claim_token_hash(kwargs["token"])
        )
        return {**super().get_context_data(**kwargs), "moment": moment, "rewards": campaign_rewards(moment.campaign)}

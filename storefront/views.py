from django.views.generic import TemplateView


class HomeView(TemplateView):
    """The front door: what Moments is, and where brands and developers go next."""

    template_name = "storefront/home.html"

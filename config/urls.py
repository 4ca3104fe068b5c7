from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.errors import api_not_found
from config.metrics import BrandSpendCollector, QueueDepthCollector, metrics_view
from rewards.ledger.selectors import live_spend_this_month
from storefront import sign_in

api_v1 = [
    path("", include("tenants.urls_api")),
    path("", include("rewards.urls_api")),
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs/",
        # The split view serves its script from a URL of its own: no inline script (the CSP allows none).
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    # Anything else under /api/v1/ is the envelope's 404, with DEBUG on too.
    re_path(r".*", api_not_found),
]

urlpatterns = [
    # Staff reset a forgotten password (and new staff set their first one) through allauth's one flow.
    path(
        "admin/password_reset/",
        RedirectView.as_view(pattern_name="account_reset_password"),
        name="admin_password_reset",
    ),
    # allauth's sign-in and second-factor pages, answering 429 when an account is locked.
    path("accounts/login/", sign_in.SignInView.as_view(), name="account_login"),
    path("accounts/2fa/authenticate/", sign_in.SecondFactorView.as_view(), name="mfa_authenticate"),
    path("admin/", admin.site.urls),
    # Prometheus, behind METRICS_TOKEN: what every process counted, then the brands' spend and the
    # task queue, read when scraped.
    path(
        "metrics",
        metrics_view(collectors=[BrandSpendCollector(read=live_spend_this_month), QueueDepthCollector()]),
        name="metrics",
    ),
    path("api/v1/", include((api_v1, "api"))),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("storefront.urls")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
handler429 = "config.errors.too_many_requests"  # django-allauth's rate limits answer through it

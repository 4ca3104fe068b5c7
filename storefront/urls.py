from django.urls import path

from storefront.views import ClaimView, HomeView

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("claim/<str:token>", ClaimView.as_view(), name="claim"),
]

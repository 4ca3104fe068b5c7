from django.urls import path

from tenants.api import MeApi

urlpatterns = [path("me", MeApi.as_view(), name="me")]

from django.contrib.admin.apps import AdminConfig


class MomentsAdminConfig(AdminConfig):
    """The Django admin, served by the brand-aware admin site."""

    default_site = "tenants.admin_site.MomentsAdminSite"

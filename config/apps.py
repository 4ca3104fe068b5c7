from django.contrib.admin.apps import AdminConfig

from config import checks  # noqa: F401 - registers the deployment checks


class MomentsAdminConfig(AdminConfig):
    """The Django admin, served by the brand-aware admin site."""

    default_site = "tenants.admin_site.MomentsAdminSite"

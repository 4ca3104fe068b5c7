from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Brand"

    def ready(self):
        from tenants import accounts  # noqa: F401 - connects its signal receivers

"""The console's index shows results: `{% brand_dashboard %}` for a brand's staff, `{% operator_dashboard %}`
for the operator (templates/admin/index.html). The admin site names them in its template only, so the
lowest app (tenants) never imports rewards."""

from django import template

from rewards.reports.selectors import brand_dashboard as brand_figures
from rewards.reports.selectors import operator_dashboard as operator_figures
from tenants.admin_scoping import admin_mode
from tenants.models import Brand

register = template.Library()


@register.inclusion_tag("admin/rewards/_brand_dashboard.html", takes_context=True)
def brand_dashboard(context):
    membership = context.get("current_membership")
    if membership is None:
        return {"dashboard": None}
    mode = admin_mode(context["request"])
    return {"dashboard": brand_figures(brand=membership.brand, mode=mode), "mode": mode, "test_data": mode == "test"}


@register.inclusion_tag("admin/rewards/_operator_dashboard.html")
def operator_dashboard():
    return {"dashboard": operator_figures(brands=list(Brand.objects.order_by("name")))}

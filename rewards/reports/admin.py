"""Campaign reports in the console: a list of the brand's campaigns with this month's results, and
one report per campaign (its funnel, money, charts and CSV exports), read by every role."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from config.db_router import reads_from_replica
from config.spreadsheets import ROWS_PER_FETCH, csv_response
from rewards import clock
from rewards.campaigns.models import Campaign
from rewards.moments.models import Moment
from rewards.periods import month_of, months_before, parse_month
from rewards.reports import charts
from rewards.reports.models import CampaignReport
from rewards.reports.selectors import HAS_RUN, campaign_report
from tenants.admin_scoping import NOBODY, BrandScopedAdmin

MONTHS_OFFERED = 12
# The moments CSV: (column, field). The brand's own user ids; never the account that claimed.
MOMENT_COLUMNS = [
    ("moment", "pk"),
    ("mode", "mode"),
    ("user_id", "user_id"),
    ("sequence", "sequence"),
    ("status", "status"),
    ("cpa_usd", "cpa"),
    ("earned_at", "earned_at"),
    ("expires_at", "expires_at"),
    ("claimed_at", "claimed_at"),
    ("fulfilled_at", "fulfilled_at"),
]


@admin.register(CampaignReport)
class CampaignReportAdmin(BrandScopedAdmin):
    add_roles = change_roles = delete_roles = NOBODY
    list_display = ["name", "status", "action", "cpa", "monthly_budget"]
    list_display_links = ["name"]
    list_filter = ["status"]
    search_fields = ["name", "slug"]
    ordering = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(HAS_RUN)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<uuid:object_id>/moments.csv", view(self.moments_csv), name="rewards_campaignreport_moments_csv"),
            path("<uuid:object_id>/daily.csv", view(self.daily_csv), name="rewards_campaignreport_daily_csv"),
            *super().get_urls(),
        ]

    def _campaign(self, request, object_id) -> Campaign:
        campaign = self.get_object(request, str(object_id))
        if not self.has_view_permission(request, campaign):
            raise Http404("No such object.")
        return campaign

    @reads_from_replica
    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The report itself (there is nothing to change here)."""
        campaign = self._campaign(request, object_id)  # another brand's: 404, like a missing one
        if request.method != "GET":
            raise PermissionDenied
        now = clock.mode_now(campaign.brand, campaign.mode)
        period = parse_month(request.GET.get("month"), now)
        report = campaign_report(campaign=campaign, period=period, now=now)
        day_labels = [str(day["day"].day) for day in report.daily]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "has_change_permission": False,
            "title": _("Report: %(campaign)s") % {"campaign": campaign.name},
            "report": report,
            "campaign": campaign,
            "months": months_before(month_of(now), MONTHS_OFFERED),
            "daily_chart": charts.bar_chart(
                title=str(_("Moments earned per day")),
                labels=day_labels,
                values=[day["earned"] for day in report.daily],
                x_title=period.strftime("%Y-%m"),
            ),
            "histogram_chart": charts.bar_chart(
                title=str(_("Users in progress, by share of the threshold reached")),
                labels=[f"{b['low']}–{b['high']}%" for b in report.histogram],
                values=[b["users"] for b in report.histogram],
            )
            if report.histogram
            else None,
            "campaign_url": reverse("admin:rewards_campaign_change", args=[campaign.pk]),
        }
        return TemplateResponse(request, "admin/rewards/campaignreport/report.html", context)

    @reads_from_replica
    def moments_csv(self, request, object_id):
        """The campaign's moments, every one and every mode, oldest first: the brand's own user ids,
        never who claimed them."""
        campaign = self._campaign(request, object_id)
        fields = [field for _, field in MOMENT_COLUMNS]
        moments = Moment.objects.filter(campaign=campaign).order_by("earned_at", "pk").values_list(*fields)
        rows = moments.iterator(chunk_size=ROWS_PER_FETCH)
        header = [column for column, _ in MOMENT_COLUMNS]
        return csv_response(f"{campaign.slug}-moments.csv", header, rows)

    @reads_from_replica
    def daily_csv(self, request, object_id):
        """The report's daily figures for the month asked (in the campaign's mode)."""
        campaign = self._campaign(request, object_id)
        now = clock.mode_now(campaign.brand, campaign.mode)
        period = parse_month(request.GET.get("month"), now)
        report = campaign_report(campaign=campaign, period=period, now=now)
        rows = ([day["day"].isoformat(), day["earned"], day["claimed"], day["spend"]] for day in report.daily)
        return csv_response(
            f"{campaign.slug}-{period:%Y-%m}-daily.csv", ["day", "moments_earned", "moments_claimed", "spend_usd"], rows
        )

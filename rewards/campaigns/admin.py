"""The brand's campaigns in the console."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from rewards import clock
from rewards.campaigns import services as campaigns
from rewards.campaigns.models import Campaign
from rewards.campaigns.selectors import campaign_rewards
from rewards.catalog.models import CatalogItem
from rewards.errors import InvalidState
from rewards.ledger.models import CampaignSpend
from rewards.periods import month_of
from tenants.admin_scoping import (
    NOBODY,
    BrandScopedAdmin,
    admin_membership,
    admin_mode,
)


class CampaignForm(forms.ModelForm):
    """The admin's campaign form; its rules are the service's, the same the API applies."""

    # Not named `rewards`: the model's field goes through CampaignReward, which the service fills.
    reward_items = forms.ModelMultipleChoiceField(
        label=_("rewards"),
        queryset=CatalogItem.objects.filter(active=True),
        widget=admin.widgets.FilteredSelectMultiple(_("rewards"), is_stacked=True),
        help_text=_("When there are several, the user chooses one."),
    )
    request_brand = None  # set by BrandScopedAdmin.get_form
    request_mode = None  # set by CampaignAdmin.get_form: the console's test data switch

    class Meta:
        model = Campaign
        fields = campaigns.CAMPAIGN_FIELDS
        widgets = {"excluded_countries": admin.widgets.FilteredSelectMultiple(_("countries"), is_stacked=True)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.initial["reward_items"] = campaign_rewards(self.instance)

    def service_data(self) -> dict:
        adding = self.instance._state.adding
        names = self.cleaned_data if adding else self.changed_data
        data = {name: self.cleaned_data[name] for name in names if name in campaigns.CAMPAIGN_FIELDS}
        if adding or "reward_items" in self.changed_data:
            data["rewards"] = [item.sku for item in self.cleaned_data["reward_items"]]
        return data

    def clean(self):
        cleaned = super().clean()
        brand = self.request_brand or cleaned.get("brand") or getattr(self.instance, "brand", None)
        if self._errors or brand is None:
            return cleaned
        original = None if self.instance._state.adding else Campaign.objects.get(pk=self.instance.pk)
        try:
            campaigns.campaign_check(brand=brand, mode=self.request_mode, data=self.service_data(), campaign=original)
        except ValidationError as exc:
            for name, errors in exc.error_dict.items():
                name = "reward_items" if name == "rewards" else name
                self.add_error(name if name in self.fields else None, errors)
        return cleaned

    def _post_clean(self):
        # The service has checked the whole campaign; the model's own full_clean would only
        # repeat it with the brand left out.
        pass


@admin.register(Campaign)
class CampaignAdmin(BrandScopedAdmin):
    form = CampaignForm
    delete_roles = NOBODY  # campaigns end; their moments and ledger keep pointing at them
    list_display = [
        "name",
        "slug",
        "action",
        "counting",
        "status",
        "cpa",
        "monthly_budget",
        "spent_this_month",
        "granted",
        "report",
    ]
    list_filter = ["status"]
    search_fields = ["name", "slug", "action"]
    readonly_fields = [
        "report",
        "status",
        "spent_this_month",
        "granted_live",
        "granted_test",
        "created_at",
        "updated_at",
    ]
    actions = ["activate", "pause", "end", "copy_to_live"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "action", "counting", "threshold", "reward_items"]}),
        (_("Money"), {"fields": ["cpa", "monthly_budget", "spent_this_month"]}),
        (_("Rules"), {"fields": campaigns.RULE_FIELDS}),
        (_("State"), {"fields": ["report", "status", "granted_live", "granted_test", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        # The month of the switch's mode: a brand's test clock may have moved its test month on.
        membership = admin_membership(request)
        now = clock.mode_now(membership.brand, admin_mode(request)) if membership else timezone.now()
        this_month = CampaignSpend.objects.filter(campaign=OuterRef("pk"), period=month_of(now)).values("spent")
        return super().get_queryset(request).annotate(spent_now=Subquery(this_month))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.request_mode = admin_mode(request)
        return form

    def get_actions(self, request):
        actions = super().get_actions(request)
        if admin_mode(request) != "test":
            actions.pop("copy_to_live", None)
        return actions

    @admin.display(description=_("report"))
    def report(self, obj):
        """One hop to the campaign's results (rewards/reports), named by URL, not imported."""
        if obj.pk is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:rewards_campaignreport_change", args=[obj.pk]), _("Report")
        )

    @admin.display(description=_("moments granted"))
    def granted(self, obj):
        """First-N counts a campaign's own mode's moments."""
        return obj.granted_test if obj.mode == "test" else obj.granted_live

    @admin.display(description=_("spent this month (USD)"))
    def spent_this_month(self, obj):
        return f"{getattr(obj, 'spent_now', None) or 0:.2f}"

    def save_model(self, request, obj, form, change):
        data = form.service_data()
        if change:
            saved = campaigns.campaign_update(campaign=Campaign.objects.get(pk=obj.pk), data=data, actor=request.user)
        else:
            brand = form.request_brand or form.cleaned_data["brand"]
            saved = campaigns.campaign_create(brand=brand, mode=admin_mode(request), data=data, actor=request.user)
        obj.pk, obj.brand, obj._state.adding = saved.pk, saved.brand, False

    def save_related(self, request, form, formsets, change):
        # Rewards were saved by the service, in the order chosen; nothing else is related.
        pass

    def _move(self, request, queryset, move, done):
        moved = 0
        for campaign in queryset:
            try:
                move(campaign=campaign, actor=request.user)
                moved += 1
            except InvalidState as exc:
                self.message_user(request, f"{campaign.name}: {exc}", messages.ERROR)
        if moved:
            self.message_user(request, done % {"count": moved})

    @admin.action(description=_("Activate the selected campaigns"), permissions=["change"])
    def activate(self, request, queryset):
        self._move(request, queryset, campaigns.campaign_activate, _("Activated %(count)d campaign(s)."))

    @admin.action(description=_("Pause the selected campaigns"), permissions=["change"])
    def pause(self, request, queryset):
        self._move(request, queryset, campaigns.campaign_pause, _("Paused %(count)d campaign(s)."))

    @admin.action(description=_("End the selected campaigns (for good)"), permissions=["change"])
    def end(self, request, queryset):
        self._move(request, queryset, campaigns.campaign_end, _("Ended %(count)d campaign(s)."))

    @admin.action(description=_("Copy the selected test campaigns to live mode, as drafts"), permissions=["change"])
    def copy_to_live(self, request, queryset):
        copied = 0
        for campaign in queryset:
            try:
                campaigns.campaign_copy_to_live(campaign=campaign, actor=request.user)
                copied += 1
            except (InvalidState, ValidationError) as exc:
                reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{campaign.name}: {reason}", messages.ERROR)
        if copied:
            self.message_user(
                request,
                _("Copied %(count)d campaign(s) to live mode as drafts: turn test data off to see them.")
                % {"count": copied},
            )

"""Moments and donations in the console: read-only, a moment cancellable by its brand."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from rewards.errors import InvalidState
from rewards.moments import services as moments
from rewards.moments.models import Donation, Moment
from tenants.admin_scoping import (
    EDITORS,
    ReadOnlyBrandAdmin,
)


class CancelForm(forms.Form):
    reason = forms.CharField(
        max_length=240, widget=forms.Textarea(attrs={"rows": 3}), help_text=_("Kept with the moment and in the ledger.")
    )


@admin.register(Moment)
class MomentAdmin(ReadOnlyBrandAdmin):
    hidden_fields = {"brand", "claim_token_hash"}
    operator_only_fields = {"account"}  # the platform account that claimed it
    list_display = ["id", "campaign", "user_id", "status", "mode", "cpa", "earned_at", "expires_at"]
    list_filter = ["status", "mode", "campaign"]
    search_fields = ["=id", "user_id"]
    list_select_related = ["campaign", "brand"]
    actions = ["cancel"]

    def has_cancel_permission(self, request):
        return self._role_may(request, EDITORS)

    @admin.action(description=_("Cancel the selected moments (the CPA is credited back)"), permissions=["cancel"])
    def cancel(self, request, queryset):
        earned = list(queryset.filter(status=Moment.Status.EARNED))
        form = CancelForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            cancelled, moved_on = 0, []
            for moment in earned:
                try:
                    moments.moment_cancel(moment=moment, reason=form.cleaned_data["reason"], actor=request.user)
                    cancelled += 1
                except InvalidState:  # claimed (or expired) since the list was read
                    moved_on.append(f"{moment.pk} ({moment.get_status_display()})")
            self.message_user(request, _("Cancelled %(count)d moment(s).") % {"count": cancelled})
            if moved_on:
                self.message_user(
                    request,
                    _("Not cancelled, no longer earned: %(moments)s.") % {"moments": ", ".join(moved_on)},
                    messages.WARNING,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Cancel moments?"),
            "moments": earned,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/rewards/moment/cancel_confirm.html", context)


@admin.register(Donation)
class DonationAdmin(ReadOnlyBrandAdmin):
    """The donation ledger: what the brand's rewards gave, per charity."""

    list_display = ["created_at", "charity", "amount", "moment"]
    list_filter = ["charity"]
    search_fields = ["=moment__user_id"]
    list_select_related = ["charity", "brand"]

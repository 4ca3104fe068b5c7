"""The test clock in the console: a brand's page, shown with the "test data" switch on."""

from datetime import UTC

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rewards import clock
from rewards.fields import Mode
from rewards.sandbox import services as sandbox
from tenants.admin_scoping import EDITORS, admin_membership


class TestClockForm(forms.Form):
    to = forms.DateTimeField(
        label=gettext_lazy("Move the test clock to (UTC)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )

    def clean_to(self):
        # The console speaks UTC, like every time the platform shows.
        return timezone.make_aware(timezone.make_naive(self.cleaned_data["to"]), UTC)


def test_clock_view(request):
    """Read the brand's test clock; owners and managers move it forward."""
    membership = admin_membership(request)
    if membership is None:
        raise Http404("The test clock is a brand's.")
    brand = membership.brand
    may_move = membership.role in EDITORS and brand.is_active
    form = TestClockForm(request.POST or None)
    if request.method == "POST":
        if not may_move:
            raise PermissionDenied
        if form.is_valid():
            try:
                move = sandbox.test_clock_advance(brand=brand, to=form.cleaned_data["to"], actor=request.user)
            except ValidationError as exc:
                form.add_error("to", exc.message_dict.get("to", exc.messages))
            else:
                messages.success(
                    request,
                    _("Test clock moved: %(expired)d test moment(s) expired, %(ended)d test campaign(s) ended.")
                    % {"expired": move.expired_moments, "ended": move.ended_campaigns},
                )
                return HttpResponseRedirect(reverse("admin:test_clock"))
    context = {
        **admin.site.each_context(request),
        "title": _("Test clock"),
        "test_now": clock.mode_now(brand, Mode.TEST),
        "live_now": timezone.now(),
        "advanced": clock.test_clock_offset(brand),
        "form": form,
        "may_move": may_move,
    }
    return TemplateResponse(request, "admin/rewards/test_clock.html", context)


admin.site.register_page("test-clock/", test_clock_view, "test_clock")

from django.contrib.auth.forms import PasswordResetForm

from tenants.models import User


class StaffPasswordResetForm(PasswordResetForm):
    """Django's form skips accounts with no usable password; invited staff who never set one (or
    whose invitation link expired) must still be able to ask for a new link."""

    def get_users(self, email):
        users = User._default_manager.filter(email__iexact=email, is_active=True)
        return (user for user in users if user.has_usable_password() or user.is_staff)

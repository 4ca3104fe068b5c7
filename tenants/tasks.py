from celery import shared_task

from tenants import emails
from tenants.models import Membership
from tenants.scoping import in_row_scope


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8)
def send_staff_invitation(membership_id: str) -> None:
    """Tell a person they joined a brand's console (tenants/emails.py); a removed membership sends nothing."""
    in_row_scope(Membership, membership_id, emails.staff_invitation_send, membership_id=membership_id)

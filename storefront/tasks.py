from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from storefront.models import Order


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8)
def send_order_update(order_id: str) -> None:
    """Tell the end user their code is ready or their parcel has left. Never puts the code itself in
    the email: it links to the order page, behind the sign-in."""
    order = Order.objects.select_related("brand", "item", "user").filter(pk=order_id).first()
    if order is None or order.user is None:
        return
    context = {"order": order, "order_url": settings.SITE_URL + reverse("storefront:order", args=[order.pk])}
    with translation.override(order.user.language or settings.LANGUAGE_CODE):
        send_mail(
            subject=render_to_string("emails/order_update_subject.txt", context).strip(),
            message=render_to_string("emails/order_update.txt", context),
            from_email=None,
            recipient_list=[order.user.email],
        )

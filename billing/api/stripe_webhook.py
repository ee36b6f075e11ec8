"""Stripe's webhook (`/v2/billing/stripe/webhook`): subscription changes, signed with
STRIPE_WEBHOOK_SECRET."""

import json
import logging

import stripe
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from billing import services
from chatorical.errors import error_response
from chatorical.http import allow_methods

logger = logging.getLogger(__name__)


def _event_fields_valid(event) -> bool:
    return (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and bool(event["id"])
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    )


@csrf_exempt
@allow_methods("POST")
def stripe_webhook(request):
    """Stripe's events, verified with Stripe's own library, each recorded once.

    A bad or stale signature is 400 and nothing is stored; a replay is 200 and changes
    nothing; an event we do not handle, or for a customer we do not know, is stored and
    answered 200 so that Stripe does not retry it forever.
    """
    if not settings.STRIPE_WEBHOOK_SECRET:
        return error_response(503, "stripe_not_configured", "STRIPE_WEBHOOK_SECRET is not set.")
    # The body's shape first: Stripe's library takes any JSON for an event, and fails on
    # some (a list) with errors that are no signature's fault.
    try:
        event = json.loads(request.body)
    except ValueError:
        return error_response(400, "invalid_json", "The body is not JSON.")
    if not _event_fields_valid(event):
        return error_response(400, "invalid_event", "A Stripe event needs id, type, created and data.object.")
    try:
        stripe.Webhook.construct_event(
            request.body,
            request.headers.get("Stripe-Signature", ""),
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
    except stripe.SignatureVerificationError as exc:
        logger.info("stripe webhook refused: %s", exc.user_message or "bad signature")
        return error_response(400, "invalid_signature", "The Stripe-Signature header does not verify.")
    stored = services.stripe_event_receive(event=event)
    return JsonResponse({"received": True, "outcome": stored.outcome})

"""Billing's HTTP surface: the usage API (an API key with `usage:read`) and Stripe's webhook."""

import json
import logging

import stripe
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing import selectors, services
from chatorical.drf import ErrorSerializer, TenantApiView
from chatorical.errors import error_response
from chatorical.http import allow_methods
from tenants.models import ApiKey

logger = logging.getLogger(__name__)


class LimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
    used = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True)
    state = serializers.ChoiceField(choices=["unlimited", "ok", "soft", "hard"])


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day counted (UTC).")
    end = serializers.DateField(help_text="First day of the next period (UTC).")


class UsageSerializer(serializers.Serializer):
    plan = serializers.CharField(source="plan_code")
    period = PeriodSerializer()
    soft_limit_percent = serializers.IntegerField(source="plan.soft_limit_percent", allow_null=True, default=None)
    retention_days_max = serializers.IntegerField(source="plan.retention_days_max", allow_null=True, default=None)
    limits = serializers.DictField(child=LimitSerializer())


class UsageApi(TenantApiView):
    """The tenant's plan, its billing period and, per limit, the usage and its state
    (`soft` from the plan's soft share, `hard` at the limit)."""

    required_scopes = {"GET": [ApiKey.Scope.USAGE_READ]}

    @extend_schema(
        operation_id="usage_retrieve",
        responses={
            200: UsageSerializer,
            **{code: OpenApiResponse(ErrorSerializer) for code in (401, 403, 429)},
        },
    )
    def get(self, request):
        return Response(UsageSerializer(selectors.plan_usage(tenant=request.auth.tenant)).data)


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

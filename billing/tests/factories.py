"""Builders for billing tests: plans with chosen limits, and Stripe events signed as Stripe signs them."""

import hashlib
import hmac
import itertools
import json
import time

from billing.models import Plan

_event_ids = itertools.count(1)


def plan_create(code: str = "tiny", **limits) -> Plan:
    """A plan with the given limits (unlimited otherwise); transactional tests lose the
    migration's plans, so they make their own."""
    fields = {"name": code.title(), **limits}
    plan, _ = Plan.objects.update_or_create(code=code, defaults=fields)
    return plan


def stripe_signature(payload: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signed}"


def stripe_event(event_type: str, obj: dict, *, created: int | None = None, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_test_{next(_event_ids)}_{time.monotonic_ns()}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": event_type,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": obj},
    }


def subscription_object(
    *, customer: str, price: str, status: str = "active", period_start: int, period_end: int, sub_id: str = "sub_1"
) -> dict:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": price, "object": "price"},
                    "current_period_start": period_start,
                    "current_period_end": period_end,
                }
            ],
        },
    }


def body_of(event: dict) -> bytes:
    return json.dumps(event).encode()

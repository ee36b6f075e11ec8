from django.db import models
from django.db.models import Q

from chatorical.tenant_models import TenantOwned
from tenants.models import Tenant


class Plan(models.Model):
    """What a tenant may use in a billing period. Platform-wide, edited by platform staff;
    a tenant is on one plan at a time (Tenant.plan holds its code). A limit left empty is
    unlimited."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    monthly_price_cents = models.PositiveIntegerField(default=0, help_text="For display; Stripe bills.")
    currency = models.CharField(max_length=3, default="EUR")
    conversations_per_month = models.PositiveIntegerField(null=True, blank=True)
    messages_per_month = models.PositiveIntegerField(
        null=True, blank=True, help_text="Visitor and agent messages together."
    )
    api_calls_per_month = models.PositiveIntegerField(null=True, blank=True)
    widget_origins = models.PositiveIntegerField(null=True, blank=True)
    admin_seats = models.PositiveIntegerField(null=True, blank=True)
    retention_days_max = models.PositiveIntegerField(null=True, blank=True)
    soft_limit_percent = models.PositiveSmallIntegerField(
        default=80, help_text="Staff are warned once a period when a limit's usage reaches this share."
    )
    api_rate_multiplier = models.FloatField(
        default=1.0, help_text="Multiplies the default API-key rate limits (chatorical/ratelimit.py)."
    )
    stripe_price_id = models.CharField(
        max_length=255, blank=True, help_text="The Stripe price whose subscriptions put a tenant on this plan."
    )

    class Meta:
        ordering = ["monthly_price_cents", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_price_id"], condition=~Q(stripe_price_id=""), name="plan_stripe_price_unique"
            ),
            models.CheckConstraint(
                condition=Q(soft_limit_percent__gte=1, soft_limit_percent__lte=100), name="plan_soft_percent_range"
            ),
            models.CheckConstraint(condition=Q(api_rate_multiplier__gt=0), name="plan_api_rate_multiplier_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"


class UsageCounter(TenantOwned):
    """Usage of one tenant on one UTC day, one row per metric and database session.

    Conversations and messages are counted by triggers on their tables (migration 0002),
    in the transaction that writes the row: exact, with no round trip of its own. Each
    session writes its own row (`shard` = its backend pid), so concurrent writers never
    wait on one another; usage_counters_compact folds past days into shard 0.
    """

    class Metric(models.TextChoices):
        CONVERSATIONS = "conversations"
        MESSAGES_IN = "messages_in"
        MESSAGES_OUT = "messages_out"
        API_CALLS = "api_calls"

    day = models.DateField()
    metric = models.CharField(max_length=16, choices=Metric.choices)
    shard = models.IntegerField(default=0)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "metric", "shard"], name="usage_counter_unique"),
        ]


class Subscription(TenantOwned):
    """The tenant's Stripe subscription as the webhooks last told it."""

    class Status(models.TextChoices):
        # Stripe's own statuses.
        INCOMPLETE = "incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired"
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        CANCELED = "canceled"
        UNPAID = "unpaid"
        PAUSED = "paused"

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, related_name="subscription")
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    price_id = models.CharField(max_length=255, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # Past due since, and until when the paid plan is kept (STRIPE_GRACE_DAYS).
    grace_until = models.DateTimeField(null=True, blank=True)
    # When the tenant moves to the free plan (cancelled, or grace over): the period's end.
    downgrade_at = models.DateTimeField(null=True, blank=True)
    # Stripe's `created` of the event that set this state: an older event never overrides it.
    state_as_of = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.stripe_customer_id} ({self.status or 'no subscription'})"


class StripeEvent(models.Model):
    """Every Stripe event received, once (its id is unique): the record of what Stripe
    said, whatever became of it. Not tenant-owned: an event may name no known customer."""

    class Outcome(models.TextChoices):
        APPLIED = "applied"
        STALE = "stale"  # older than the state already applied
        IGNORED = "ignored"  # a type we do not handle
        UNKNOWN_CUSTOMER = "unknown_customer"

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    created = models.BigIntegerField(help_text="Stripe's timestamp of the event (Unix seconds).")
    payload = models.JSONField()
    # The tenant whose customer the event names, if any: a platform record, not the
    # tenant's own row (the tenant-owned history is BillingEvent).
    matched_tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_events"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["matched_tenant", "received_at"], name="stripe_event_tenant_received")]

    def __str__(self):
        return f"{self.type} {self.stripe_id}"


class BillingEvent(TenantOwned):
    """The tenant's billing history: plan changes (who or what, why), limit warnings,
    payment news. Soft and hard warnings are recorded once per period and limit."""

    class Kind(models.TextChoices):
        PLAN_CHANGED = "plan_changed"
        SOFT_LIMIT = "soft_limit"
        HARD_LIMIT = "hard_limit"
        PAYMENT_FAILED = "payment_failed"
        INVOICE_PAID = "invoice_paid"
        GRACE_STARTED = "grace_started"
        DOWNGRADE_SCHEDULED = "downgrade_scheduled"

    class Source(models.TextChoices):
        ADMIN = "admin"
        CLI = "cli"
        STRIPE = "stripe"
        SYSTEM = "system"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.SYSTEM)
    actor = models.CharField(max_length=255, blank=True, help_text="Who: a username, the CLI, a Stripe event id.")
    from_plan = models.CharField(max_length=32, blank=True)
    to_plan = models.CharField(max_length=32, blank=True)
    limit = models.CharField(max_length=32, blank=True)
    period_start = models.DateField(null=True, blank=True)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="billing_event_tenant_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "limit", "period_start"],
                condition=Q(kind__in=["soft_limit", "hard_limit"]),
                name="billing_event_warning_once",
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.limit or self.to_plan}".strip()


class TenantBilling(Tenant):
    """A tenant as the billing pages of the admin show it: plan, usage, history."""

    class Meta:
        proxy = True
        verbose_name = "plan and usage"
        verbose_name_plural = "plans and usage"

"""Billing in the /api/v2 integration API: the usage (an API key with `usage:read`)."""

import logging

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing import selectors
from chatorical.drf import ErrorSerializer, TenantApiView
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

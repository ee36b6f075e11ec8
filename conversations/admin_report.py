"""The report page of the Django admin: a tenant's staff see their own numbers.

`/admin/conversations/conversation/report/`, for every member role (as the conversation
list); a platform superuser picks the tenant with `?tenant=<slug>` (the default tenant
otherwise). The chart is an SVG drawn here, so the page makes no outside request and
runs no script.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from chatorical import tenancy
from conversations import selectors
from conversations.agent_channel import agent_channel_problem
from tenants.models import Tenant
from tenants.selectors import tenant_get_default

CHART_WIDTH, CHART_HEIGHT, CHART_AXIS = 600, 160, 20


def report_view(request, *, model_admin):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    tenant = _tenant_of(request, model_admin)
    with tenancy.tenant_context(tenant):
        report = selectors.conversation_report()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Report of {tenant.name}",
        "opts": model_admin.model._meta,
        "tenant": tenant,
        "tenants": Tenant.objects.order_by("slug") if request.user.is_superuser else None,
        "report": report,
        "chart": conversations_chart(report.per_day),
        "first_reply_p50": duration_text(report.first_reply_p50),
        "first_reply_p90": duration_text(report.first_reply_p90),
        "bot_problem": agent_channel_problem(tenant.id),
    }
    return TemplateResponse(request, "admin/conversations/report.html", context)


def _tenant_of(request, model_admin) -> Tenant:
    membership = model_admin.admin_membership(request)
    if membership is not None:
        return membership.tenant
    slug = request.GET.get("tenant")
    if not slug:
        return tenant_get_default()
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404("No such tenant.")
    return tenant


def duration_text(duration: timedelta | None) -> str:
    if duration is None:
        return "no reply yet"
    seconds = round(duration.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min {seconds % 60} s"
    return f"{minutes // 60} h {minutes % 60} min"


def conversations_chart(per_day) -> str:
    """A bar per day, labelled with its count, the first and the last day below."""
    peak = max((count for _, count in per_day), default=0) or 1
    slot = CHART_WIDTH / max(len(per_day), 1)
    plot_height = CHART_HEIGHT - CHART_AXIS
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690"><title>{}: {}</title></rect>',
        (
            (
                f"{index * slot + 1:.1f}",
                f"{plot_height - count / peak * (plot_height - 12):.1f}",
                f"{slot - 2:.1f}",
                f"{count / peak * (plot_height - 12):.1f}",
                day.isoformat(),
                count,
            )
            for index, (day, count) in enumerate(per_day)
        ),
    )
    first, last = (per_day[0][0].isoformat(), per_day[-1][0].isoformat()) if per_day else ("", "")
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'aria-label="Conversations started per day">{bars}'
        '<text x="0" y="{axis}" font-size="11">{first}</text>'
        '<text x="{w}" y="{axis}" font-size="11" text-anchor="end">{last}</text>'
        '<text x="0" y="10" font-size="11">peak {peak}</text></svg>',
        w=CHART_WIDTH,
        h=CHART_HEIGHT,
        bars=bars,
        axis=CHART_HEIGHT - 4,
        first=first,
        last=last,
        peak=peak if any(count for _, count in per_day) else 0,
    )

"""OpenTelemetry traces: one trace from a visitor's frame to the Bot API call, and from a
webhook update to the frame sent to the widget.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set:
then neither the SDK nor any instrumentation is imported, and every helper here returns
at once. On, each process's entry point (asgi.py, the Celery worker) calls `configure()`,
which installs the SDK with a batching OTLP/HTTP exporter configured by the standard
OTEL_* variables (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER...)
and the instrumentations of Django, Celery, psycopg, redis and httpx.

Work that waits in a table or a queue takes its trace context along as a W3C
`traceparent` string: stored with the outbox event and the webhook update, and put into
the channel-layer message of a fan-out. The span that handles it later is its child.

Every span started while a tenant is in context carries the `tenant` attribute (its
slug). Spans never carry message text, secrets, or a conversation id (the v2 widget's
capability).
"""

import contextvars
import os
from contextlib import contextmanager, nullcontext

TENANT_ATTRIBUTE = "tenant"
_tracer = None  # set by configure(): tracing is on
# The slug of the tenant in context, as tenancy.py sets it: kept here so that tracing,
# which the tenant context uses, does not read the tenant context back.
_tenant_slug: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_tenant_slug", default=None)


def enabled() -> bool:
    return _tracer is not None


def endpoint_configured() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure(*, exporter=None) -> bool:
    """Turns tracing on when an OTLP endpoint is configured, or with `exporter` (tests use
    the SDK's in-memory one, exported span by span). Returns whether tracing is on."""
    global _tracer
    if _tracer is not None:
        return True
    if exporter is None and not endpoint_configured():
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    class TenantSpanProcessor(SpanProcessor):
        def on_start(self, span, parent_context=None):
            slug = _tenant_slug.get()
            if slug is not None:
                span.set_attribute(TENANT_ATTRIBUTE, slug)

    provider = TracerProvider(resource=Resource.create({"service.name": _service_name()}))
    provider.add_span_processor(TenantSpanProcessor())
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument(response_hook=_path_redacted)
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument()
    RedisInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument(request_hook=_url_redacted)
    _tracer = trace.get_tracer("chatorical")
    return True


_URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.path")


def _path_redacted(span, request, response) -> None:
    """A path may hold a conversation id (the v2 widget's capability): request spans keep
    the route's pattern instead, e.g. v2/tenants/<slug:tenant_slug>/conversations/<str:conversation_id>/token."""
    if not span.is_recording():
        return
    match = request.resolver_match
    route = f"/{match.route}" if match is not None else "unmatched"
    for attribute in _URL_ATTRIBUTES:
        if attribute in span.attributes:
            span.set_attribute(attribute, route)


def _url_redacted(span, request) -> None:
    """A Bot API URL holds the bot's token: spans keep the URL with the token masked."""
    from chatorical.redaction import redact

    url = redact(str(request.url))
    for attribute in _URL_ATTRIBUTES:
        if span.is_recording() and attribute in span.attributes:
            span.set_attribute(attribute, url)


def _service_name() -> str:
    return os.environ.get("OTEL_SERVICE_NAME", "chatorical")


def traceparent() -> str:
    """The current span's context as a W3C traceparent, or "" (tracing off, no span)."""
    if _tracer is None:
        return ""
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", "")


def span(name: str, *, parent: str = "", **attributes):
    """A span around the block, the child of the `parent` traceparent if one is given,
    else of the current span. A no-op context manager when tracing is off."""
    if _tracer is None:
        return nullcontext()
    return _span(name, parent, attributes)


@contextmanager
def _span(name: str, parent: str, attributes: dict):
    from opentelemetry.propagate import extract

    context = extract({"traceparent": parent}) if parent else None
    with _tracer.start_as_current_span(name, context=context, attributes=attributes) as current:
        yield current


@contextmanager
def tenant_marked(slug: str | None):
    """Spans started inside the block carry `tenant` (none with `slug` None), and so does
    the current span (a request's, started before its middleware resolved the tenant).
    The tenant context (tenancy.py) enters it."""
    token = _tenant_slug.set(slug)
    if slug is not None:
        tenant_mark(slug)
    try:
        yield
    finally:
        _tenant_slug.reset(token)


def tenant_mark(slug: str) -> None:
    """Sets `tenant` on the current span: for spans started before the tenant was known."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attribute(TENANT_ATTRIBUTE, slug)


def log_ids() -> tuple[str, str]:
    """The current trace and span ids, as logs carry them, or ("-", "-")."""
    if _tracer is None:
        return "-", "-"
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "-", "-"
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"

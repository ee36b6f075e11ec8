"""Log formatting: pretty lines in dev, one JSON object per line in prod.

Every record carries the request id, the trace and span ids (when tracing is on) and the
tenant (`tenant`, its slug, and `tenant_id`) of the context it was logged in, "-" where
there is none: in web requests, sockets and workers alike.
"""

import contextvars
import json
import logging
from datetime import UTC, datetime

from chatorical import tenancy, tracing
from chatorical.redaction import redact

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
CONTEXT_FIELDS = ("request_id", "trace_id", "span_id", "tenant", "tenant_id")


class ContextFilter(logging.Filter):
    def filter(self, record):
        # Django logs each 4xx/5xx response ("django.request") after the middleware has
        # returned and the context is gone; the request it passes along still knows both.
        request = getattr(record, "request", None)
        record.request_id = request_id_var.get()
        if record.request_id == "-":
            record.request_id = getattr(request, "request_id", "-")
        tenant = tenancy.current_tenant() or getattr(request, "tenant", None)
        record.tenant_id = tenant.id if tenant else "-"
        record.tenant = tenant.slug if tenant else "-"
        record.trace_id, record.span_id = tracing.log_ids()
        return True


class RedactSecretsFilter(logging.Filter):
    """Masks secrets in the record itself (message, traceback), for every handler: a secret
    that reaches a log line (a library logging a URL, an exception quoting one) is masked
    before the line is written. The formatters mask their whole output too, for the
    fields a record carries besides its message (Django's `request`, `extra=`)."""

    def filter(self, record):
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def daphne_access_log_mask() -> None:
    """daphne writes its access log (every request's path: the v2 webhook's path secret
    with it) straight to a stream, past logging and its filters; its lines are masked
    here instead. Called by the ASGI module, which daphne imports before it logs."""
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:  # another ASGI server
        return
    unmasked = AccessLogGenerator.write_entry
    if getattr(unmasked, "masks_secrets", False):
        return

    def write_entry(self, host, date, request, *args, **kwargs):
        return unmasked(self, host, date, redact(request), *args, **kwargs)

    write_entry.masks_secrets = True
    AccessLogGenerator.write_entry = write_entry


class PrettyFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [req=%(request_id)s tenant=%(tenant)s] %(message)s")

    def format(self, record):
        for field in CONTEXT_FIELDS:
            record.__dict__.setdefault(field, "-")
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{field: getattr(record, field, "-") for field in CONTEXT_FIELDS},
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))

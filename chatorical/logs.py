"""Log formatting: pretty lines in dev, one JSON object per line in prod.

Every record carries the request id, the trace and span ids (when tracing is on) and the
tenant (`tenant`, its slug, and `tenant_id`) of the context it was logged in, "-" where
there is none: in web requests, sockets and workers alike.
"""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

from chatorical import tenancy, tracing

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


# Telegram bot tokens (they are part of every Bot API URL) and our API keys.
_SECRET_PATTERNS = (
    (re.compile(r"(?<!\d)(\d{3,20}):[A-Za-z0-9_-]{20,}"), r"\1:<redacted>"),
    (re.compile(r"\b(chk_)[A-Za-z0-9_-]{20,}"), r"\1<redacted>"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Last line of defence: a secret that reaches a log line (a library logging a URL, an
    exception quoting one) is masked before the line is written."""

    def filter(self, record):
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class PrettyFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [req=%(request_id)s tenant=%(tenant)s] %(message)s")

    def format(self, record):
        for field in CONTEXT_FIELDS:
            record.__dict__.setdefault(field, "-")
        return super().format(record)


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
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

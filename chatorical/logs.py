"""Log formatting: pretty lines in dev, one JSON object per line in prod.

Every record carries the request id and tenant of the context it was logged in.
"""

import contextvars
import json
import logging
from datetime import UTC, datetime

from chatorical import tenancy

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id_var.get()
        tenant = tenancy.current_tenant()
        record.tenant_id = tenant.id if tenant else "-"
        return True


class PrettyFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(
            "%(asctime)s %(levelname)-7s %(name)s [req=%(request_id)s tenant=%(tenant_id)s] %(message)s"
        )

    def format(self, record):
        record.__dict__.setdefault("request_id", "-")
        record.__dict__.setdefault("tenant_id", "-")
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "tenant_id": getattr(record, "tenant_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

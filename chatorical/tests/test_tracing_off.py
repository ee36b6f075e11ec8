"""Without an OTLP endpoint, tracing costs nothing: no tracer provider, no instrumentation,
no span. (redis-py imports parts of the OpenTelemetry API and metrics SDK by itself when they
are installed; nothing of the tracing SDK or the instrumentations is loaded.)"""

import subprocess
import sys

from chatorical.testing import ROOT, process_env

PROBE = """
import sys
import chatorical.asgi
from chatorical import tracing
from chatorical.celery import app
from celery.signals import worker_init
worker_init.send(sender=None)
assert not tracing.enabled()
assert tracing.traceparent() == "" and tracing.log_ids() == ("-", "-")
from opentelemetry import trace
assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
print(sorted(
    name for name in sys.modules
    if name.startswith(("opentelemetry.instrumentation", "opentelemetry.sdk.trace", "opentelemetry.exporter"))
))
"""


def test_no_opentelemetry_module_is_loaded_without_an_endpoint(db):
    env = {key: value for key, value in process_env().items() if not key.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"

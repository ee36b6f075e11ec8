"""Prometheus metrics of every process, and the /metrics page.

The processes of one machine (every daphne, the Celery worker and its prefork children)
share one directory, PROMETHEUS_MULTIPROC_DIR, where prometheus_client's multiprocess
mode keeps each process's numbers; the /metrics page of any daphne of the machine serves
their sum. Without the directory a process serves its own numbers only, and what Celery's
children count is never seen. The directory must be set before the process starts and
emptied when the machine's processes (re)start (deploy/run-local.sh does both).

Numbers that live in the database or the cache (outbox lag, dead events, bots that need a
human) are read when /metrics is scraped, by collectors the apps register with
`scrape_collector` in their AppConfig.ready, so this module imports no app.

Label cardinality: the only label that grows with the deployment is `tenant`, the tenant's
slug. `METRICS_TENANT_LABEL=all` puts every tenant under `tenant="all"`, `none` leaves the
label empty (Prometheus drops it). No label ever holds the id of a conversation, message,
user or key.
"""

import atexit
import logging
import os
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.metrics_core import Metric

logger = logging.getLogger(__name__)

ScrapeCollector = Callable[[], Iterable[Metric]]
_scrape_collectors: list[ScrapeCollector] = []


def tenant_label(slug: str) -> str:
    """The value of the `tenant` label for a tenant, as METRICS_TENANT_LABEL says."""
    mode = settings.METRICS_TENANT_LABEL
    if mode == "slug":
        return slug
    return "all" if mode == "all" else ""


def scrape_collector(collect: ScrapeCollector) -> ScrapeCollector:
    """Registers a function that yields metrics read at scrape time."""
    _scrape_collectors.append(collect)
    return collect


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _Collector:
    """Adapts a collect function to CollectorRegistry.register."""

    def __init__(self, collect: ScrapeCollector):
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        try:
            return list(self._collect())
        except Exception:
            # A backend that is down must not take the other numbers with it.
            logger.exception("metrics collector %s failed", getattr(self._collect, "__name__", self._collect))
            return []


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Collector(REGISTRY.collect))
    for collect in _scrape_collectors:
        registry.register(_Collector(collect))
    return registry


def metrics_view(request):
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def process_started() -> None:
    """Called by each process's entry point (asgi.py, celery.py): a process that exits
    takes its live gauges (open sockets) out of the machine's sum."""
    if multiprocess_dir():
        atexit.register(process_exited, os.getpid())


def process_exited(pid: int) -> None:
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)

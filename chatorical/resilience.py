"""What a process records about its backends coming and going, for /metrics and the logs.

Each component that holds a long-lived connection (the channel layer's subscriber, the
Celery worker's broker connection) says when it lost its backend and when it got it back.
Per process: every process exports its own series.
"""

import time

from prometheus_client import Counter, Gauge

RECONNECTS = Counter(
    "chatorical_backend_reconnects_total",
    "Times a component of this process got its backend back after losing it.",
    ["component"],
)
DISCONNECTED_SECONDS = Counter(
    "chatorical_backend_disconnected_seconds_total",
    "Seconds a component of this process spent without its backend (counted when it returns).",
    ["component"],
)
CONNECTED = Gauge(
    "chatorical_backend_connected",
    "1 while a component of this process hears its backend, 0 while it does not.",
    ["component"],
    multiprocess_mode="liveall",
)


class Outage:
    """The disconnected time of one component, for components that notice both ends."""

    def __init__(self, component: str):
        self.component = component
        self.since: float | None = None

    def lost(self) -> bool:
        """Records the loss; True the first time, False while it lasts."""
        if self.since is not None:
            return False
        self.since = time.monotonic()
        disconnected(self.component)
        return True

    def ended(self) -> float | None:
        """Records the return; its seconds, or None if nothing was lost."""
        if self.since is None:
            CONNECTED.labels(self.component).set(1)
            return None
        seconds = time.monotonic() - self.since
        self.since = None
        reconnected(self.component, seconds)
        return seconds


def disconnected(component: str) -> None:
    CONNECTED.labels(component).set(0)


def reconnected(component: str, seconds: float) -> None:
    CONNECTED.labels(component).set(1)
    RECONNECTS.labels(component).inc()
    DISCONNECTED_SECONDS.labels(component).inc(seconds)

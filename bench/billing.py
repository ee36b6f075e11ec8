"""Usage counter benchmark, run by hand: `.venv/bin/python bench/billing.py`.

What counting usage adds to the hot path: the store of a visitor message (the statement of
services.messages_add, as the sockets' batches send it) with the billing triggers on and
off, alternately, in one process. The counter costs no round trip of its own; this measures
the time PostgreSQL spends in the trigger. Then it checks that the counters equal the rows.
"""

import json
import statistics
import time

import harness

harness.setup()

from django.db import connection  # noqa: E402

from billing import selectors  # noqa: E402
from chatorical import tenancy  # noqa: E402
from conversations import services  # noqa: E402
from conversations.models import Message  # noqa: E402
from tenants.models import Tenant  # noqa: E402

CONVERSATIONS = 50
ROUNDS = 6
SINGLE_MESSAGES = 300  # one message per call, as an idle process stores them
BATCHES, BATCH_SIZE = 6, 100  # as the sockets' batches under load


def triggers(enabled: bool) -> None:
    action = "ENABLE" if enabled else "DISABLE"
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE conversations_message {action} TRIGGER billing_count_messages")


def store_singles(conversations) -> float:
    """µs per message, one messages_add call each."""
    started = time.perf_counter()
    for number in range(SINGLE_MESSAGES):
        new = services.NewMessage(
            conversation=conversations[number % len(conversations)], direction="INBOUND", text=f"m{number}"
        )
        services.messages_add(messages=[new], fan_out=False)
    return (time.perf_counter() - started) / SINGLE_MESSAGES * 1e6


def store_batches(conversations) -> float:
    """µs per message, BATCH_SIZE messages per messages_add call."""
    started = time.perf_counter()
    for batch in range(BATCHES):
        messages = [
            services.NewMessage(conversation=conversations[n % len(conversations)], direction="INBOUND", text=f"b{n}")
            for n in range(batch * BATCH_SIZE, (batch + 1) * BATCH_SIZE)
        ]
        services.messages_add(messages=messages, fan_out=False)
    return (time.perf_counter() - started) / (BATCHES * BATCH_SIZE) * 1e6


def main():
    tenant = Tenant.objects.create(slug="bench-billing", name="Bench billing", plan="legacy")
    figures = {"single": {True: [], False: []}, "batch": {True: [], False: []}}
    with tenancy.tenant_context(tenant):
        conversations = [services.conversation_start(tenant=tenant) for _ in range(CONVERSATIONS)]
        counted_rows = 0
        for round_number in range(ROUNDS):
            for enabled in (round_number % 2 == 0, round_number % 2 == 1):
                triggers(enabled)
                figures["single"][enabled].append(store_singles(conversations))
                figures["batch"][enabled].append(store_batches(conversations))
                if enabled:
                    counted_rows += SINGLE_MESSAGES + BATCHES * BATCH_SIZE
                harness.vacuum()
        triggers(True)
        counters = selectors.usage_counts(period=selectors.billing_period(tenant=tenant))
        rows = Message.objects.count()
    result = {
        name: {
            "with_counter_us": round(statistics.median(runs[True]), 1),
            "without_counter_us": round(statistics.median(runs[False]), 1),
            "counter_cost_us": round(statistics.median(runs[True]) - statistics.median(runs[False]), 1),
        }
        for name, runs in figures.items()
    }
    result["counted_equals_rows_written_with_it"] = counters["messages_in"] == counted_rows
    result["rows"] = rows
    for name in ("single", "batch"):
        figure = result[name]
        print(
            f"message store, {name}: {figure['with_counter_us']} µs/message with the counter, "
            f"{figure['without_counter_us']} without: +{figure['counter_cost_us']} µs (median of {ROUNDS // 2} runs)"
        )
    print(f"counters equal the rows written with the trigger on: {result['counted_equals_rows_written_with_it']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

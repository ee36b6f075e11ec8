"""Webhook lookups benchmark, run by hand: `.venv/bin/python bench/webhook_lookups.py`.

The two lookups the Telegram webhook makes for every agent's message, written out in SQL
(chatorical/written_queries.py) as the project runs them, beside the same lookup through the
ORM, alternately in one process: the default tenant by its slug, and the conversation of a
forum topic (a join). Prints µs per lookup, the median of ROUNDS rounds of LOOKUPS each.
"""

import json
import statistics
import time

import harness

harness.setup()

from chatorical import tenancy  # noqa: E402
from conversations import services  # noqa: E402
from telegram_bridge.models import TelegramTopic  # noqa: E402
from telegram_bridge.selectors import conversation_in_topic  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.selectors import tenant_get_default  # noqa: E402

CHAT_ID = -1001234567890
CONVERSATIONS, ROUNDS, LOOKUPS = 100, 6, 1000


def per_lookup(lookup) -> float:
    """µs per call, over LOOKUPS calls."""
    started = time.perf_counter()
    for number in range(LOOKUPS):
        lookup(number)
    return (time.perf_counter() - started) / LOOKUPS * 1e6


def main():
    tenant = tenant_get_default()
    with tenancy.tenant_context(tenant):
        for thread_id in range(CONVERSATIONS):
            conversation = services.conversation_start(tenant=tenant)
            TelegramTopic.objects.update_or_create(
                conversation=conversation, defaults={"chat_id": CHAT_ID, "thread_id": thread_id}
            )
        lookups = {
            "default tenant": {
                "written": lambda n: tenant_get_default(),
                "orm": lambda n: Tenant.objects.get(slug=tenant.slug),
            },
            "conversation in topic": {
                "written": lambda n: conversation_in_topic(chat_id=CHAT_ID, thread_id=n % CONVERSATIONS),
                "orm": lambda n: (
                    TelegramTopic.objects.filter(chat_id=CHAT_ID, thread_id=n % CONVERSATIONS)
                    .select_related("conversation")[:1][0]
                    .conversation
                ),
            },
        }
        figures = {name: {"written": [], "orm": []} for name in lookups}
        for round_number in range(ROUNDS):
            for name, forms in lookups.items():
                order = ("written", "orm") if round_number % 2 == 0 else ("orm", "written")
                for form in order:
                    figures[name][form].append(per_lookup(forms[form]))
    result = {
        name: {form: round(statistics.median(runs), 1) for form, runs in forms.items()}
        for name, forms in figures.items()
    }
    for name, figure in result.items():
        print(f"{name}: {figure['written']} µs written out, {figure['orm']} µs through the ORM (median of {ROUNDS})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

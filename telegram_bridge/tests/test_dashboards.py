"""The dashboard and the alert rules against a real Prometheus scraping a real daphne and a
real prefork Celery worker, after a short conversation from the widget to Telegram and back."""

import asyncio
import json
import re

import httpx
import pytest
import redis
import websockets
from channels.db import database_sync_to_async
from django.conf import settings

from chatorical import tenancy
from chatorical.testing import ROOT, PrometheusProcess, WorkerProcess, eventually
from telegram_bridge.models import TelegramTopic
from telegram_bridge.tests.conftest import AGENT, DEFAULT_CHAT_ID, HEADER_SECRET, processes_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

DASHBOARD = ROOT / "deploy" / "grafana" / "chatorical.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
# Metrics other parts of the system report: their queries must parse, but no process this
# test starts reports them. chatorical_plan_usage_ratio: billing (plans and usage);
# chatorical_retention_*: the retention job (lifecycle).
REPORTED_ELSEWHERE = ("chatorical_plan_usage_ratio", "chatorical_retention_last_success_timestamp_seconds")


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", ())]


def concrete(expr: str, tenant: str) -> str:
    """A dashboard query as Grafana sends it for one tenant."""
    return expr.replace("$tenant", re.escape(tenant)).replace("$__rate_interval", "5m")


def alert_expressions() -> list[tuple[str, str]]:
    import yaml

    rules = yaml.safe_load(ALERTS.read_text())
    return [(rule["alert"], rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def receive(socket, timeout=20):
    return asyncio.wait_for(socket.recv(), timeout)


def topic_row(conversation_id) -> TelegramTopic:
    with tenancy.cross_tenant("test: read the topic the processes wrote"):
        return TelegramTopic.objects.get(pk=conversation_id)


async def converse(server, fake):
    """A visitor writes, the worker posts it, an agent claims and answers through the
    webhook, the widget gets the answer; plus a refused webhook call and a refused rename."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        started = (await client.post("/v1/start", json={"name": "Ada"})).json()
        async with websockets.connect(f"{server.ws_url}/v1/ws?token={started['token']}") as socket:
            assert json.loads(await receive(socket))["key"] == "welcome"
            await socket.send(json.dumps({"type": "message", "text": "where is my order?"}))
            assert json.loads(await receive(socket))["text"] == "where is my order?"
            await eventually(lambda: any(m["text"] == "where is my order?" for m in fake.messages(DEFAULT_CHAT_ID)))

            topic = await database_sync_to_async(topic_row)(started["conversation_id"])
            webhook = {"X-Telegram-Bot-Api-Secret-Token": HEADER_SECRET}
            claim = fake.press_button(DEFAULT_CHAT_ID, topic.header_message_id, user=AGENT)
            assert (await client.post("/v1/telegram/webhook", json=claim, headers=webhook)).status_code == 200
            assert json.loads(await receive(socket)) == {"type": "agent_joined", "agent": "grace"}
            answer = fake.add_user_message(DEFAULT_CHAT_ID, "on its way", thread_id=topic.thread_id, user=AGENT)
            assert (await client.post("/v1/telegram/webhook", json=answer, headers=webhook)).status_code == 200
            assert json.loads(await receive(socket)) == {
                "direction": "OUTBOUND",
                "text": "on its way",
                "agent": "grace",
            }

            wrong = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            assert (await client.post("/v1/telegram/webhook", json=answer, headers=wrong)).status_code == 403
            rename = f"/v1/conversations/{started['conversation_id']}/rename"
            bearer = {"Authorization": f"Bearer {started['token']}"}
            statuses = [
                (await client.post(rename, json={"name": f"Ada {n}"}, headers=bearer)).status_code for n in range(4)
            ]
            assert statuses == [200, 200, 200, 429]


async def test_every_dashboard_query_has_data_and_every_rule_evaluates(telegram, start_server, tmp_path):
    telegram.set_limits(group_per_minute=None, bot_per_second=None)
    queue = redis.Redis.from_url(settings.REDIS_URL)
    stale = list(queue.scan_iter(f"{settings.REDIS_KEY_PREFIX}:celery:*"))
    if stale:
        queue.delete(*stale)
    multiprocess_dir = tmp_path / "metrics"
    multiprocess_dir.mkdir()
    env = processes_env(telegram, OUTBOX_SWEEP_SECONDS=1, PROMETHEUS_MULTIPROC_DIR=multiprocess_dir)
    server = start_server(**env)
    worker = WorkerProcess(tmp_path, pool="prefork", **env)
    prometheus = PrometheusProcess(tmp_path, targets=[f"127.0.0.1:{server.port}"])
    try:
        await converse(server, telegram)

        # The Bot API is only ever called by the worker's prefork children: their counts
        # reach Prometheus through daphne's /metrics.
        def telegram_calls():
            result = prometheus.query('sum(chatorical_telegram_calls_total{tenant="default",outcome="ok"})')
            return result["data"]["result"] and float(result["data"]["result"][0]["value"][1]) >= 3

        await eventually(telegram_calls)

        missing = {}
        for title, expr in dashboard_queries():
            query = concrete(expr, "default")
            if any(name in expr for name in REPORTED_ELSEWHERE):
                answer = await asyncio.to_thread(prometheus.query, query)
                assert answer["status"] == "success", (title, answer)
                continue
            try:
                await eventually(lambda query=query: prometheus.query(query)["data"]["result"], within=30)
            except TimeoutError:
                missing[title] = query
        assert not missing, f"dashboard queries without data: {missing}"

        for alert, expr in alert_expressions():
            answer = await asyncio.to_thread(prometheus.query, expr)
            assert answer["status"] == "success", (alert, answer)

        def rules_evaluated():
            groups = prometheus.get("/api/v1/rules")["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return rules if all(rule["lastEvaluation"] > "0001-01-01T00:00:00Z" for rule in rules) else None

        rules = await eventually(rules_evaluated, within=30)
        assert {rule["name"] for rule in rules} == {alert for alert, _ in alert_expressions()}
        assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
    finally:
        prometheus.stop()
        worker.stop()

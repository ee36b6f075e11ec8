"""The rate limiter on the real Redis: counting, isolation, backoff, concurrency, failure."""

import asyncio
import itertools
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured, ValidationError
from prometheus_client import REGISTRY

from chatorical import ratelimit
from chatorical.client_ip import client_ip, scope_client_ip
from chatorical.env import env_networks
from chatorical.errors import ApiError
from chatorical.testing import free_port
from tenants.models import Tenant

_tenant_ids = itertools.count(90_001)


def tenant(*, plan="free", **rate_limits) -> Tenant:
    """An unsaved tenant: the limiter reads only its id, slug, plan and rate_limits."""
    tenant_id = next(_tenant_ids)
    return Tenant(id=tenant_id, slug=f"rl-{tenant_id}", plan=plan, rate_limits=rate_limits)


def check(owner, *, name="conversation_start", kind="ip", value="203.0.113.1"):
    return ratelimit.check(name=name, tenant=owner, kind=kind, value=value)


def test_a_burst_of_the_limit_passes_then_refusals_say_when_to_retry():
    owner = tenant(conversation_start={"ip": {"limit": 3, "period": 60}})
    decisions = [check(owner) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    refused = decisions[-1]
    # The next one is due when the first leaves the window: a period after it.
    assert refused.retry_after == pytest.approx(60, abs=0.5)
    assert refused.retry_after_seconds == 60
    assert refused.level == 1 and not refused.unavailable


def test_any_window_of_the_period_holds_at_most_the_limit_however_checks_are_spread():
    """GCRA let a burst of N through and then one more every period/N: spread over a
    period, up to twice the limit. Here each allowed check is timed from before it was sent
    to after it was answered, so Redis' clock saw it within that span: the (i + N)th allowed
    one must end at least a period after the ith began."""
    limit, period = 5, 2.0
    owner = tenant(conversation_start={"ip": {"limit": limit, "period": period, "max_block": 0}})
    allowed_spans = []
    started = time.monotonic()
    while time.monotonic() - started < 1.5 * period:
        sent = time.monotonic()
        if check(owner).allowed:
            allowed_spans.append((sent, time.monotonic()))
        time.sleep(period / limit / 4)
    assert len(allowed_spans) >= limit + 1
    for (first_sent, _), (_, last_answered) in zip(allowed_spans, allowed_spans[limit:], strict=False):
        assert last_answered - first_sent >= period


def test_a_lowered_limit_applies_to_what_was_already_counted():
    owner = tenant(conversation_start={"ip": {"limit": 4, "period": 60}})
    assert all(check(owner).allowed for _ in range(4))
    owner.rate_limits = {"conversation_start": {"ip": {"limit": 2, "period": 60}}}
    refused = check(owner)
    assert not refused.allowed and refused.retry_after == pytest.approx(60, abs=0.5)


def test_the_defaults_are_the_documented_ones(settings):
    settings.RATE_LIMIT_SCALE = 1.0
    owner = tenant()
    rates = {
        (name, kind): (rate.limit, rate.period)
        for name, kind in [
            ("conversation_start", "ip"),
            ("rename", "conversation"),
            ("ws_message", "socket"),
            ("webhook", "tenant"),
        ]
        for rate in [ratelimit.rate_for(name=name, tenant=owner, kind=kind)]
    }
    assert rates == {
        ("conversation_start", "ip"): (10, 60),
        ("rename", "conversation"): (3, 86400),
        ("ws_message", "socket"): (30, 10),
        ("webhook", "tenant"): (600, 60),
    }


def test_rates_come_from_the_default_then_the_plan_then_the_tenant_then_the_scale(settings, db):
    # The plan multipliers are the billing app's Plan rows (billing/migrations/0002_plans.py).
    settings.RATE_LIMIT_SCALE = 1.0
    free, pro = tenant(), tenant(plan="pro")
    assert ratelimit.rate_for(name="api_key", tenant=free, kind="key").limit == 120
    assert ratelimit.rate_for(name="api_key", tenant=pro, kind="key").limit == 600
    custom = tenant(plan="pro", api_key={"key": {"limit": 7, "decay": 5}})
    rate = ratelimit.rate_for(name="api_key", tenant=custom, kind="key")
    assert (rate.limit, rate.period, rate.decay_seconds) == (7, 60, 5)
    settings.RATE_LIMIT_SCALE = 100
    assert ratelimit.rate_for(name="conversation_start", tenant=free, kind="ip").limit == 1000
    assert ratelimit.rate_for(name="api_key", tenant=custom, kind="key").limit == 700


@pytest.mark.parametrize(
    "value",
    [
        ["rename"],
        {"no_such_limit": {"ip": {"limit": 1}}},
        {"rename": {"ip": {"limit": 1}}},
        {"rename": {"conversation": {}}},
        {"rename": {"conversation": {"limit": 0}}},
        {"rename": {"conversation": {"limit": 1.5}}},
        {"rename": {"conversation": {"limit": True}}},
        {"rename": {"conversation": {"period": "60"}}},
        {"rename": {"conversation": {"burst": 3}}},
    ],
)
def test_bad_tenant_overrides_are_refused_by_the_model_field(value):
    with pytest.raises(ValidationError):
        Tenant._meta.get_field("rate_limits").run_validators(value)


def test_a_bad_override_that_got_stored_anyway_falls_back_to_the_default(settings, caplog):
    settings.RATE_LIMIT_SCALE = 1.0
    broken = tenant(rename={"conversation": {"limit": "many"}})
    with caplog.at_level(logging.WARNING, logger="chatorical.ratelimit"):
        assert ratelimit.rate_for(name="rename", tenant=broken, kind="conversation").limit == 3
    assert "invalid rate_limits" in caplog.text


def test_keys_are_separate_per_value_kind_limit_and_tenant():
    owner = tenant(
        conversation_start={"ip": {"limit": 1}},
        token={"ip": {"limit": 1}, "conversation": {"limit": 1}},
    )
    assert check(owner).allowed and not check(owner).allowed
    assert check(owner, value="203.0.113.2").allowed
    assert check(owner, name="token").allowed
    assert check(owner, name="token", kind="conversation").allowed
    other = tenant(conversation_start={"ip": {"limit": 1}})
    assert check(other).allowed


def test_ipv6_clients_share_one_limit_per_64():
    owner = tenant(conversation_start={"ip": {"limit": 1}})
    assert check(owner, value="2001:db8:1:2::1").allowed
    assert not check(owner, value="2001:db8:1:2:ffff::9").allowed
    assert check(owner, value="2001:db8:1:3::1").allowed


def test_key_values_reach_neither_redis_key_names_nor_logs(settings, caplog):
    owner = tenant(conversation_start={"ip": {"limit": 1}})
    with caplog.at_level(logging.INFO, logger="chatorical.ratelimit"):
        check(owner, value="198.51.100.77")
        check(owner, value="198.51.100.77")
    assert "ip key" in caplog.text and "198.51.100.77" not in caplog.text
    keys = [k.decode() for k in redis.Redis.from_url(settings.REDIS_URL).scan_iter(f"{settings.REDIS_KEY_PREFIX}:rl:*")]
    assert keys and all(
        key.startswith(f"{settings.REDIS_KEY_PREFIX}:rl:{owner.id}:conversation_start:ip:") for key in keys
    )
    assert not any("198.51.100.77" in key for key in keys)


def test_parallel_checks_from_many_threads_never_exceed_the_limit():
    owner = tenant(conversation_start={"ip": {"limit": 50, "period": 600}})
    start = threading.Barrier(16)

    def hammer(_):
        start.wait()
        return sum(check(owner).allowed for _ in range(25))

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert sum(pool.map(hammer, range(16))) == 50


def test_each_retry_while_blocked_doubles_the_block_up_to_the_cap():
    owner = tenant(conversation_start={"ip": {"limit": 1, "period": 0.05, "max_block": 0.4, "decay": 60}})
    assert check(owner).allowed
    refusals = [check(owner) for _ in range(6)]
    assert not any(d.allowed for d in refusals)
    assert [d.level for d in refusals] == [1, 2, 3, 4, 5, 6]
    assert 0 < refusals[0].retry_after <= 0.05  # when the allowed one leaves the window
    for told, retried in zip(refusals, refusals[1:], strict=False):
        assert retried.retry_after == pytest.approx(min(2 * told.retry_after, 0.4), abs=0.002)
    assert refusals[-1].retry_after == 0.4


def test_a_client_that_waits_as_told_is_never_penalised():
    owner = tenant(conversation_start={"ip": {"limit": 2, "period": 0.2, "decay": 60}})
    allowed = 0
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        decision = check(owner)
        allowed += decision.allowed
        assert decision.level <= 1
        if not decision.allowed:
            time.sleep(decision.retry_after)
    assert 5 <= allowed <= 7  # 2, then 2 more in each following 0.2 s


def test_without_a_penalty_retries_while_blocked_are_only_told_the_wait(db):  # db: the plan multiplier
    owner = tenant(api_key={"key": {"limit": 1, "period": 0.1}})
    assert ratelimit.rate_for(name="api_key", tenant=owner, kind="key").max_block == 0
    assert ratelimit.check(name="api_key", tenant=owner, kind="key", value="k").allowed
    refusals = [ratelimit.check(name="api_key", tenant=owner, kind="key", value="k") for _ in range(5)]
    assert all(not d.allowed and d.retry_after <= 0.1 for d in refusals)
    time.sleep(refusals[-1].retry_after)
    assert ratelimit.check(name="api_key", tenant=owner, kind="key", value="k").allowed


def test_each_quiet_decay_period_after_a_block_forgives_one_level():
    owner = tenant(conversation_start={"ip": {"limit": 1, "period": 0.05, "max_block": 0.1, "decay": 0.5}})
    assert check(owner).allowed
    assert [check(owner).level for _ in range(3)] == [1, 2, 3]  # blocked for 0.1 s from here

    time.sleep(0.1 + 0.75)  # the block, then one and a half decay periods: one level forgiven
    assert check(owner).allowed
    told = check(owner)
    assert told.level == 2  # refused, but it had waited: not raised
    again = check(owner)  # while blocked: raised, and told twice the wait
    assert again.level == 3 and again.retry_after == pytest.approx(2 * told.retry_after, abs=0.002)

    time.sleep(0.1 + 3 * 0.5 + 0.2)  # long enough to forgive every level
    assert check(owner).allowed
    assert check(owner).level == 1


def test_retry_after_seconds_are_whole_and_at_least_one():
    assert ratelimit.Decision(allowed=False, retry_after=0.05).retry_after_seconds == 1
    assert ratelimit.Decision(allowed=False, retry_after=6.2).retry_after_seconds == 7


def test_enforce_raises_the_429_with_retry_after():
    owner = tenant()
    for _ in range(3):
        ratelimit.enforce(name="rename", tenant=owner, kind="conversation", value="c1")
    with pytest.raises(ApiError) as refused:
        ratelimit.enforce(name="rename", tenant=owner, kind="conversation", value="c1")
    assert (refused.value.status, refused.value.code) == (429, "rate_limited")
    assert refused.value.headers == {"Retry-After": "86400"}  # when the first leaves the day


def test_refusals_are_counted_per_tenant_and_limit():
    owner = tenant(conversation_start={"ip": {"limit": 1}})
    labels = {"tenant": owner.slug, "limit": "conversation_start"}
    check(owner)
    assert REGISTRY.get_sample_value("chatorical_rate_limited_total", labels) is None
    check(owner)
    check(owner)
    assert REGISTRY.get_sample_value("chatorical_rate_limited_total", labels) == 2


async def test_the_asyncio_client_counts_against_the_same_limit():
    owner = tenant(ws_message={"socket": {"limit": 2}})
    sync = ratelimit.check(name="ws_message", tenant=owner, kind="socket", value="s")
    first = await ratelimit.check_async(name="ws_message", tenant=owner, kind="socket", value="s")
    second = await ratelimit.check_async(name="ws_message", tenant=owner, kind="socket", value="s")
    assert (sync.allowed, first.allowed, second.allowed) == (True, True, False)


async def test_unreachable_redis_fails_each_limit_in_its_direction_and_is_logged(settings, caplog):
    owner = tenant()
    assert check(owner).allowed  # the limiter works, so the outage below is news to it
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{free_port()}/3"
    errors_before = (
        REGISTRY.get_sample_value("chatorical_rate_limiter_errors_total", {"limit": "conversation_start"}) or 0
    )
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="chatorical.ratelimit"):
        closed = check(owner)
        still_closed = check(owner)
        opened = check(owner, name="history", kind="conversation")
        async_closed = await ratelimit.check_async(name="ws_message", tenant=owner, kind="socket", value="s")
    assert time.monotonic() - started < 2
    assert (closed.allowed, closed.unavailable, still_closed.allowed) == (False, True, False)
    assert (opened.allowed, opened.unavailable) == (True, True)
    assert (async_closed.allowed, async_closed.unavailable) == (False, True)
    assert caplog.text.count("rate limiter unavailable") == 1
    assert (
        REGISTRY.get_sample_value("chatorical_rate_limiter_errors_total", {"limit": "conversation_start"})
        == errors_before + 2
    )
    with pytest.raises(ApiError) as refused:
        ratelimit.enforce(name="conversation_start", tenant=owner, kind="ip", value="203.0.113.1")
    assert (refused.value.status, refused.value.code) == (503, "limiter_unavailable")
    with pytest.raises(redis.RedisError):
        ratelimit.probe()

    settings.RATE_LIMIT_REDIS_URL = settings.REDIS_URL
    reconnects = {"component": "rate_limiter"}
    reconnects_before = REGISTRY.get_sample_value("chatorical_backend_reconnects_total", reconnects) or 0
    with caplog.at_level(logging.INFO, logger="chatorical.ratelimit"):
        assert check(owner).allowed
    assert "rate limiter available again" in caplog.text
    assert REGISTRY.get_sample_value("chatorical_backend_reconnects_total", reconnects) == reconnects_before + 1
    assert REGISTRY.get_sample_value("chatorical_backend_disconnected_seconds_total", reconnects) > 0


def test_without_redis_the_limits_are_off(settings):
    settings.RATE_LIMIT_REDIS_URL = ""
    owner = tenant(conversation_start={"ip": {"limit": 1}})
    assert all(check(owner).allowed for _ in range(3))


# --- client addresses ---------------------------------------------------------------------


def test_trusted_proxies_are_read_as_networks(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 ,fd00::/8")
    assert env_networks("TRUSTED_PROXIES") == [
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.7/32"),
        ip_network("fd00::/8"),
    ]
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,nginx")
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        env_networks("TRUSTED_PROXIES")


PROXIES = [ip_network("127.0.0.1/32"), ip_network("::1/128"), ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    "remote_addr, forwarded_for, expected",
    [
        # A client that reached us directly cannot name itself someone else.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        ("203.0.113.9", "", "203.0.113.9"),
        # Behind our proxies: the rightmost address that is not one of ours.
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.9, 10.1.2.3", "203.0.113.9"),
        ("10.0.0.5", "spoofed, 203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "10.1.2.3, 10.0.0.7", "10.1.2.3"),
        # Junk where only a proxy writes: the last hop we can name.
        ("127.0.0.1", "203.0.113.9, not-an-ip", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.9, not-an-ip, 10.0.0.7", "10.0.0.7"),
        # Normalised, so one client is one key.
        ("::1", "2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:203.0.113.9", "", "203.0.113.9"),
        ("127.0.0.1", "::ffff:203.0.113.9", "203.0.113.9"),
        # A Unix socket peer is our local proxy.
        ("", "203.0.113.9", "203.0.113.9"),
        ("", "", ""),
    ],
)
def test_client_ip_believes_forwarded_for_only_from_trusted_proxies(settings, remote_addr, forwarded_for, expected):
    settings.TRUSTED_PROXIES = PROXIES
    assert client_ip(remote_addr=remote_addr, forwarded_for=forwarded_for) == expected


def test_a_websocket_scope_is_read_the_same_way(settings):
    settings.TRUSTED_PROXIES = PROXIES
    headers = [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.9"), (b"x-forwarded-for", b"10.0.0.2")]
    assert scope_client_ip({"client": ["127.0.0.1", 5555], "headers": headers}) == "203.0.113.9"
    assert scope_client_ip({"client": ["203.0.113.5", 5555], "headers": headers}) == "203.0.113.5"
    assert scope_client_ip({"headers": headers}) == "203.0.113.9"


async def test_concurrent_checks_of_sockets_count_exactly():
    owner = tenant(ws_message={"socket": {"limit": 10}})
    decisions = await asyncio.gather(
        *(ratelimit.check_async(name="ws_message", tenant=owner, kind="socket", value="s") for _ in range(50))
    )
    assert sum(d.allowed for d in decisions) == 10
    assert all(d.retry_after > 0 for d in decisions if not d.allowed)


async def test_checks_go_on_after_redis_forgets_the_script(settings):
    owner = tenant(ws_message={"socket": {"limit": 5}})
    assert (await ratelimit.check_async(name="ws_message", tenant=owner, kind="socket", value="s")).allowed
    redis.Redis.from_url(settings.RATE_LIMIT_REDIS_URL).script_flush()
    decision = await ratelimit.check_async(name="ws_message", tenant=owner, kind="socket", value="s")
    assert (decision.allowed, decision.unavailable) == (True, False)


async def test_a_redis_that_accepts_and_never_answers_fails_a_socket_check_within_the_timeout(settings):
    """A stalled Redis (a listener that reads nothing back) must not stall the socket."""
    owner = tenant()
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{port}/3"
    try:
        started = time.monotonic()
        decision = await asyncio.wait_for(
            ratelimit.check_async(name="ws_message", tenant=owner, kind="socket", value="s"), 5
        )
        assert time.monotonic() - started < 2
        assert (decision.allowed, decision.unavailable) == (False, True)
    finally:
        silent.close()
        settings.RATE_LIMIT_REDIS_URL = settings.REDIS_URL
    assert (await ratelimit.check_async(name="ws_message", tenant=owner, kind="socket", value="s")).allowed


def test_sync_checks_go_on_after_redis_forgets_the_script_and_count_once(settings):
    owner = tenant(conversation_start={"ip": {"limit": 2, "period": 60}})
    assert check(owner).allowed
    redis.Redis.from_url(settings.RATE_LIMIT_REDIS_URL).script_flush()
    after = check(owner)
    assert (after.allowed, after.unavailable) == (True, False)
    assert not check(owner).allowed  # the check that found the script gone was counted once


def redis_commands(connection):
    """The commands a client sends, each a list of bytes, read as Redis reads them (RESP)."""
    stream = connection.makefile("rb")
    while header := stream.readline():
        arguments = []
        for _ in range(int(header[1:])):
            length = int(stream.readline()[1:])
            arguments.append(stream.read(length + 2)[:-2])
        yield arguments


def test_an_answer_that_comes_after_the_timeout_is_not_read_as_the_next_checks(settings):
    """A Redis that answers the first check only after the client gave up: the client must
    drop that connection, or the late answer would be read as the next check's."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    allowed, refused = b"*3\r\n:1\r\n:0\r\n:0\r\n", b"*3\r\n:0\r\n:60000\r\n:1\r\n"

    def serve():
        first_check = True
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            with connection:
                for command in redis_commands(connection):
                    name = command[0].upper()
                    if name != b"EVALSHA":
                        set_up = {b"PING": b"+PONG\r\n", b"HELLO": b"%1\r\n$5\r\nproto\r\n:3\r\n"}
                        connection.sendall(set_up.get(name, b"+OK\r\n"))
                    elif first_check:
                        first_check = False
                        time.sleep(0.8)  # past the limiter's 0.5 s
                        connection.sendall(refused)
                    else:
                        connection.sendall(allowed)

    threading.Thread(target=serve, daemon=True).start()
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{port}/3"
    try:
        owner = tenant()
        timed_out = check(owner)
        assert (timed_out.allowed, timed_out.unavailable) == (False, True)
        time.sleep(0.5)  # the late answer is on its way by now
        assert check(owner) == ratelimit.Decision(allowed=True)
    finally:
        settings.RATE_LIMIT_REDIS_URL = settings.REDIS_URL
        listener.close()

"""The project's one rate limiter, in Redis, shared by every process (README: Rate limits).

    ratelimit.enforce(name=..., tenant=..., kind="ip", value=ip)         # a view: returns or raises 429/503
    decision = await ratelimit.check_async(name=..., tenant=..., ...)    # a consumer: a Decision to act on
    await ratelimit.socket_slot_take(...) / socket_slot_give_back(...)   # sockets open at once
    ratelimit.reserve(budgets=[ratelimit.Budget(...)]) / ratelimit.hold(...)  # our own calls to Telegram

policy.py holds the limits and their defaults, limits.py the checks, sockets.py the open
sockets, budgets.py the send budgets, redis_state.py the clients and the outage they share.
"""

from chatorical.ratelimit.budgets import BUDGET_UNAVAILABLE_WAIT_SECONDS, Budget, hold, queue_turn, reserve
from chatorical.ratelimit.limits import Decision, check, check_async, enforce, probe
from chatorical.ratelimit.policy import ABUSE_LEVEL, LIMITS, Limit, Rate, rate_for, validate_rate_limits
from chatorical.ratelimit.sockets import socket_slot_give_back, socket_slot_take

__all__ = [
    "ABUSE_LEVEL",
    "BUDGET_UNAVAILABLE_WAIT_SECONDS",
    "LIMITS",
    "Budget",
    "Decision",
    "Limit",
    "Rate",
    "check",
    "check_async",
    "enforce",
    "hold",
    "probe",
    "queue_turn",
    "rate_for",
    "reserve",
    "socket_slot_give_back",
    "socket_slot_take",
    "validate_rate_limits",
]

"""Conversation JWTs: HS256 with CONVERSATION_JWT_SECRET.

Each surface has its own audience, and accepts only its own: `ws` for the v1 widget's
token (/v1/ws and the v1 HTTP endpoints), `ws-v2` for the v2 socket's single-use token
(/v2/ws). A v2 token lives minutes and is spent once, a v1 token lives days: if either
were accepted by the other surface, it would escape the rules it was issued under.
"""

import logging
import time
import uuid
from dataclasses import dataclass

import jwt
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

AUDIENCE_V1 = "ws"
AUDIENCE_V2 = "ws-v2"
ALGORITHM = "HS256"


class TokenRefused(Exception):
    """The token is forged, expired, for another audience, or malformed."""


# The spent-token marks live in Redis. If Redis comes back empty they are gone, so a
# single-use token also names the Redis epoch it was issued in (claim `ep`), a random value
# kept in Redis with no expiry: an emptied Redis gets a new one, and tokens of the old one
# are refused, spent or not (the widget fetches a fresh token on every connect anyway).
EPOCH_KEY = "token-epoch"


@dataclass(frozen=True)
class ConversationClaims:
    tenant_id: int
    conversation_id: str
    jti: str
    expires_at: int
    epoch: str = ""


def token_epoch() -> str | None:
    """The current Redis epoch, started here if Redis has none; None while Redis is away."""
    cache.add(EPOCH_KEY, uuid.uuid4().hex, timeout=None)
    return cache.get(EPOCH_KEY)


def token_issue(*, conversation, ttl_seconds: int, audience: str = AUDIENCE_V1, epoch: str = "") -> str:
    """`epoch` (from token_epoch()) makes a single-use token: see token_spend()."""
    now = int(time.time())
    claims = {
        "tid": conversation.tenant_id,
        "cid": str(conversation.id),
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    if epoch:
        claims["ep"] = epoch
    return jwt.encode(claims, settings.CONVERSATION_JWT_SECRET, algorithm=ALGORITHM)


def token_decode(token: str, *, audience: str = AUDIENCE_V1) -> ConversationClaims:
    try:
        claims = jwt.decode(
            token,
            settings.CONVERSATION_JWT_SECRET,
            algorithms=[ALGORITHM],
            audience=audience,
            options={"require": ["tid", "cid", "aud", "exp", "iat", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenRefused(str(exc)) from exc
    if not isinstance(claims["tid"], int) or not isinstance(claims["cid"], str):
        raise TokenRefused("malformed claims")
    return ConversationClaims(
        tenant_id=claims["tid"],
        conversation_id=claims["cid"],
        jti=claims["jti"],
        expires_at=claims["exp"],
        epoch=str(claims.get("ep", "")),
    )


async def token_spend(claims: ConversationClaims) -> bool:
    """Marks the token's `jti` used; False if it was used before (a replay).

    One atomic `SET key 1 NX PX <ms until exp>` in Redis (the cache's `add`), so of two
    handshakes racing with one token on any instances exactly one wins, and the mark lasts
    as long as the token could still be accepted. Fails closed: when Redis does not answer,
    the cache answers None and no token can be spent. A token of an earlier Redis epoch (or
    of none) is refused: its mark may have been lost with that Redis.
    """
    seconds_left = max(claims.expires_at - time.time(), 0.001)
    epoch = await sync_to_async(token_epoch)()
    if epoch is None:
        logger.warning("cannot record a spent token while Redis is away; refusing it")
        return False
    if claims.epoch != epoch:
        logger.info("ws token of another Redis epoch refused")
        return False
    return bool(await cache.aadd(f"jti:{claims.jti}", 1, timeout=seconds_left))

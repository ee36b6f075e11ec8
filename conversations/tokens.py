"""Conversation JWTs: HS256 with CONVERSATION_JWT_SECRET, audience `ws`."""

import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings

AUDIENCE = "ws"
ALGORITHM = "HS256"


class TokenRefused(Exception):
    """The token is forged, expired, for another audience, or malformed."""


@dataclass(frozen=True)
class ConversationClaims:
    tenant_id: int
    conversation_id: str
    jti: str
    expires_at: int


def token_issue(*, conversation, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {
        "tid": conversation.tenant_id,
        "cid": str(conversation.id),
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.CONVERSATION_JWT_SECRET, algorithm=ALGORITHM)


def token_decode(token: str) -> ConversationClaims:
    try:
        claims = jwt.decode(
            token,
            settings.CONVERSATION_JWT_SECRET,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["tid", "cid", "aud", "exp", "iat", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenRefused(str(exc)) from exc
    if not isinstance(claims["tid"], int) or not isinstance(claims["cid"], str):
        raise TokenRefused("malformed claims")
    return ConversationClaims(
        tenant_id=claims["tid"], conversation_id=claims["cid"], jti=claims["jti"], expires_at=claims["exp"]
    )

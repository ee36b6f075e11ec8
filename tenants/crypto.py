"""Encryption of tenant secrets at rest (Fernet: AES-128-CBC with HMAC-SHA256).

`CHANNEL_CONFIG_KEYS` is a comma-separated list of Fernet keys: the first encrypts, all
decrypt, so a key is rotated by putting a new one first and re-encrypting
(`rotate_token`), then dropping the old one.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """No configured key decrypts this value (a key was dropped too early)."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("CHANNEL_CONFIG_KEYS is empty: tenant secrets cannot be stored")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("CHANNEL_CONFIG_KEYS holds a malformed Fernet key") from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.CHANNEL_CONFIG_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no key in CHANNEL_CONFIG_KEYS decrypts this secret") from None


def rotate_token(ciphertext: str) -> str:
    """Re-encrypts with the first key."""
    try:
        return _current().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no key in CHANNEL_CONFIG_KEYS decrypts this secret") from None


def new_key() -> str:
    return Fernet.generate_key().decode()

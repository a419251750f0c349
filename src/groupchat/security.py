"""Password hashing (Argon2id) and access tokens (HS256 JWTs with exp, iat and jti)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from groupchat.errors import Unauthorized
from groupchat.ids import utc_now

ALGORITHM = "HS256"


class Passwords:
    """Argon2id hashing; `verify` costs the same whether or not the user exists."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._dummy = self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; a missing hash still spends the hashing time."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True)
class TokenClaims:
    """What a verified access token says."""

    user_id: str
    jti: str
    expires_at: datetime


class Tokens:
    """Issues and verifies access tokens."""

    def __init__(self, secret: str, ttl_hours: float) -> None:
        self._secret = secret
        self._ttl = timedelta(hours=ttl_hours)

    def issue(self, user_id: str) -> str:
        now = utc_now()
        claims = {
            "sub": user_id,
            "iat": int(now.timestamp()),
            "exp": int((now + self._ttl).timestamp()),
            "jti": secrets.token_hex(16),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> TokenClaims:
        """Claims of a valid token; raises Unauthorized for anything else (alg none included)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.PyJWTError:
            raise Unauthorized("invalid or expired token") from None
        sub, jti, exp = claims.get("sub"), claims.get("jti"), claims.get("exp")
        if not isinstance(sub, str) or not isinstance(jti, str) or not _is_number(exp):
            raise Unauthorized("invalid or expired token")
        try:
            expires = datetime.fromtimestamp(exp, tz=UTC)
        except (ValueError, OverflowError, OSError):  # a far-future exp (year > 9999)
            raise Unauthorized("invalid or expired token") from None
        return TokenClaims(user_id=sub, jti=jti, expires_at=expires)


def _is_number(value: object) -> TypeGuard[float]:
    """RFC 7519 NumericDate: a JSON number (PyJWT also lets numeric strings through)."""
    return isinstance(value, int | float) and not isinstance(value, bool)

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
    issued_at: datetime  # to the millisecond; compared with users.tokens_valid_after


VERIFIED_TOKENS = 10_000  # tokens whose claims are kept (then all are forgotten at once)


class Tokens:
    """Issues and verifies access tokens."""

    def __init__(self, secret: str, ttl_hours: float) -> None:
        self._secret = secret
        self._ttl = timedelta(hours=ttl_hours)
        # Every REST request and socket handshake verifies its token (~37 µs in PyJWT); a token
        # that verified once has the same claims until it expires. Only valid tokens are kept,
        # and whether one was signed out is read from the database at each use.
        self._verified: dict[str, TokenClaims] = {}

    def issue(self, user_id: str) -> str:
        now = utc_now()
        claims = {
            "sub": user_id,
            "iat": round(now.timestamp(), 3),  # milliseconds: a revocation cuts at the instant
            "exp": int((now + self._ttl).timestamp()),
            "jti": secrets.token_hex(16),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> TokenClaims:
        """Claims of a valid token; raises Unauthorized for anything else (alg none included)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = claims
        if claims.expires_at <= datetime.now(UTC):  # as PyJWT: expired from the second `exp` names
            self._verified.pop(token, None)
            raise Unauthorized("invalid or expired token")
        return claims

    def _decode(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.PyJWTError:
            raise Unauthorized("invalid or expired token") from None
        sub, jti, exp, iat = (claims.get(k) for k in ("sub", "jti", "exp", "iat"))
        if not isinstance(sub, str) or not isinstance(jti, str):
            raise Unauthorized("invalid or expired token")
        if not _is_number(exp) or not _is_number(iat):
            raise Unauthorized("invalid or expired token")
        try:
            expires = datetime.fromtimestamp(exp, tz=UTC)
            millis = round(iat * 1000)  # float seconds back to the whole millisecond issued
            issued = datetime.fromtimestamp(millis // 1000, tz=UTC).replace(
                microsecond=millis % 1000 * 1000
            )
        except (ValueError, OverflowError, OSError):  # a far-future exp (year > 9999)
            raise Unauthorized("invalid or expired token") from None
        return TokenClaims(user_id=sub, jti=jti, expires_at=expires, issued_at=issued)


def _is_number(value: object) -> TypeGuard[float]:
    """RFC 7519 NumericDate: a JSON number (PyJWT also lets numeric strings through)."""
    return isinstance(value, int | float) and not isinstance(value, bool)

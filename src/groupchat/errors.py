"""One error vocabulary for HTTP and WebSocket, rendered as `{"detail": …}` by one handler."""

from __future__ import annotations

from typing import ClassVar


class AppError(Exception):
    """An expected failure the client should see; `status` is the HTTP code, `code` the WS code."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_detail: ClassVar[str] = "bad request"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class BadRequest(AppError):
    status, code, default_detail = 400, "bad_request", "bad request"


class Unauthorized(AppError):
    status, code, default_detail = 401, "unauthorized", "not signed in"


class Forbidden(AppError):
    status, code, default_detail = 403, "forbidden", "you may not do that in this room"


class NotFound(AppError):
    status, code, default_detail = 404, "not_found", "not found"


class Conflict(AppError):
    status, code, default_detail = 409, "conflict", "conflict"


class Gone(AppError):
    status, code, default_detail = 410, "gone", "no longer valid"


class TooLarge(AppError):
    status, code, default_detail = 413, "too_large", "request body too large"


class UnsupportedMedia(AppError):
    status, code, default_detail = 415, "bad_request", "unsupported media type"


class Invalid(AppError):
    status, code, default_detail = 422, "bad_request", "invalid input"


class RateLimited(AppError):
    status, code, default_detail = 429, "rate_limited", "too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after  # seconds, sent as Retry-After

    @property
    def headers(self) -> dict[str, str] | None:
        return None if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(AppError):
    status, code, default_detail = 503, "unavailable", "service unavailable"


ROOM_NOT_FOUND = "room not found"

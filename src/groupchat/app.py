"""create_app(settings): the ASGI app; its lifespan owns the engine, bus, hub and HTTP client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from groupchat.actions.signup import announce_setup
from groupchat.ai.participant import Participant
from groupchat.ai.setup import build_participant
from groupchat.api import admin as admin_api
from groupchat.api import auth, invites, messages, meta, models, nostr, rooms, uploads
from groupchat.api import metrics as metrics_api
from groupchat.api import search as search_api
from groupchat.api import usage as usage_api
from groupchat.api_docs import add_docs_routes
from groupchat.config import Settings, resolve_jwt_secret
from groupchat.db.engine import Database
from groupchat.db.migrate import backup_sqlite, upgrade
from groupchat.errors import AppError
from groupchat.metrics import Metrics, RequestTimer
from groupchat.middleware import (
    MULTIPART_OVERHEAD,
    BodyLimit,
    HostCheck,
    SecurityHeaders,
    content_security_policy,
)
from groupchat.openapi import install as install_openapi
from groupchat.query_params import single_values
from groupchat.ratelimit import AuthRateLimit
from groupchat.realtime.bus import Event, MemoryBus
from groupchat.realtime.hub import Hub
from groupchat.realtime.ordering import Orderer, StoredChain
from groupchat.realtime.redis_bus import RedisBus, make_bus
from groupchat.security import Passwords, Tokens
from groupchat.services import NoAi, Services
from groupchat.static import add_client_routes

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """Assemble the app; nothing touches disk or network until its lifespan starts."""
    app = FastAPI(
        title="GroupChat",
        version="1.0",
        lifespan=_lifespan(settings),
        docs_url=None,  # api_docs serves /docs without a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(single_values)],
    )
    for router in (
        auth.router,
        admin_api.router,
        rooms.router,
        messages.router,
        invites.router,
        uploads.router,
        nostr.router,
        models.router,
        usage_api.router,
        metrics_api.router,
        search_api.router,
    ):
        app.include_router(router)
    app.include_router(meta.router)
    add_docs_routes(app)
    install_openapi(app)
    add_client_routes(app, settings.static_dir)
    _add_error_handlers(app)
    _add_middleware(app, settings)
    return app


def _lifespan(
    settings: Settings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Services]]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Services]]:
        services = await start_services(settings)
        app.state.services = services
        try:
            await announce_setup(services)  # prints the setup URL while no account exists
            yield {"services": services}  # lifespan state: realtime/protocol.py reads it
        finally:  # bounded: SHUTDOWN_TIMEOUT is split between uvicorn and this
            try:
                await asyncio.wait_for(stop_services(services), settings.shutdown_timeout / 2)
            except TimeoutError:
                log.warning("stopping took longer than SHUTDOWN_TIMEOUT; exiting anyway")

    return lifespan


async def start_services(settings: Settings) -> Services:
    """Back up, migrate, and build the long-lived parts (the seed's startup order)."""
    secret = resolve_jwt_secret(settings)
    if settings.sqlite_path is not None:
        backup_sqlite(settings.sqlite_path, settings.backup_dir, settings.backup_keep)
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url, sqlite_synchronous=settings.sqlite_synchronous)
    await upgrade(db)
    for folder in ("avatars", "chat-images"):
        (settings.upload_dir / folder).mkdir(parents=True, exist_ok=True)
    hub, bus = Hub(), make_bus(settings.redis_url)
    bus.subscribe(hub.deliver if isinstance(bus, MemoryBus) else _ordered(hub, bus, db))
    await bus.start()
    services = Services(
        settings=settings,
        db=db,
        bus=bus,
        hub=hub,
        passwords=Passwords(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        tokens=Tokens(secret, settings.jwt_ttl_hours),
        http=httpx.AsyncClient(follow_redirects=False, trust_env=False),
        ai=NoAi(),
    )
    services.ai = build_participant(services)
    services.metrics.count_websockets(hub.connection_count)
    bus.subscribe(services.ai.on_event)  # cancel/clear/delete from other processes
    await services.posts.start()  # the post writer (group commit)
    if services.reads is not None:
        await services.reads.start()  # one-statement reads (db/point_reads.py)
    if isinstance(services.ai, Participant):
        services.ai.start()  # answers questions left waiting by a restart or a crash
    return services


def _ordered(hub: Hub, bus: RedisBus, db: Database) -> Callable[[Event], None]:
    """Several processes: frames reach the hub in chain order; sockets resync after an outage."""
    orderer = Orderer(hub.deliver, hub.has_room, StoredChain(db))
    bus.on_resync = lambda: orderer.resync(hub.room_ids())
    bus.join_hook = orderer.ready
    return orderer.on_event


async def stop_services(services: Services) -> None:
    await services.posts.stop()  # stores what is queued; new posts are refused (503)
    await services.flush_published()
    await services.ai.stop_room("*", "The server is shutting down.")
    await services.hub.close_all()
    await services.bus.close()
    await services.http.aclose()
    if services.reads is not None:
        await services.reads.stop()
    await services.db.dispose()


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> Response:
        headers = getattr(exc, "headers", None)  # RateLimited's Retry-After
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid input"}
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse(
            {"detail": f"{where}: {first['msg']}" if where else first["msg"], "errors": errors},
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)


def _metrics_of(scope: Scope) -> Metrics | None:
    """The running app's metrics (None before its lifespan started)."""
    services = getattr(scope["app"].state, "services", None)
    return services.metrics if services is not None else None


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    def limit_for(path: str) -> int:
        if path == "/api/upload":
            return settings.max_image_bytes + MULTIPART_OVERHEAD
        if path == "/api/auth/avatar":
            return settings.max_avatar_bytes + MULTIPART_OVERHEAD
        return settings.max_json_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(AuthRateLimit, per_minute=settings.auth_rate_per_minute)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
    origins = [o for o in [settings.public_url, *settings.cors_origin_list] if o]
    if settings.public_url:
        app.add_middleware(HostCheck, origins=origins)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(origins))
    app.add_middleware(RequestTimer, metrics=_metrics_of)  # outermost: refusals are timed too

"""create_app(): the FastAPI app; its lifespan opens the services (`app.service.wiring`) and holds them."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from prometheus_fastapi_instrumentator import Instrumentator

from app import __version__
from app.api import problems
from app.api.docs import contract, install_webhooks
from app.api.limits import BodyLimit
from app.api.media import router as media_router
from app.api.problems import Problem
from app.api.request_id import RequestId
from app.api.routes import router
from app.api.studio import router as studio_router
from app.api.studio_page import router as page_router
from app.config import Settings
from app.service.wiring import open_services

DESCRIPTION = (
    "Long videos in, loudness-normalised BT.709 highlight reels out. Errors are RFC 9457 problem+json "
    "(`Problem`), whose `code` is stable; live progress is pushed as Server-Sent Events."
)


def create_app(settings: Settings | None = None, *, run_worker: bool = True) -> FastAPI:
    """The service: API routes, problem+json errors, /metrics; with the runner unless `run_worker` is False."""
    settings = settings or Settings()
    if refusal := settings.open_api_refusal():  # whoever builds the app, not only `smartedit serve`
        raise RuntimeError(refusal)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, run_worker=run_worker) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="SmartVideoEditor",
        version=__version__,
        summary="Long videos in, loudness-normalised BT.709 highlight reels out.",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    # Uploads are capped by MAX_INPUT_BYTES while they stream, not by the small limit of JSON bodies.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, exempt=("/uploads",))
    app.add_middleware(RequestId)  # added last, so outermost: every response has the id, and every log line
    app.include_router(router)
    install_webhooks(app)

    def openapi() -> dict[str, Any]:
        spec = contract(app)
        if settings.open_api:  # no key is asked for: the spec says so, or every operation "ignores" its auth
            spec.pop("security", None)
            spec["components"].pop("securitySchemes", None)
            for path in spec["paths"].values():
                for operation in path.values():
                    operation.pop("security", None)
                    operation["responses"].pop("401", None)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(media_router)
    app.include_router(studio_router)
    app.include_router(page_router)  # the Studio web page: outside the contract (include_in_schema=False)
    app.state.routers = (router, media_router, studio_router, page_router)  # for the Allow of a 405 (problems.py)
    guard = [Depends(_metrics_guard(settings.metrics_token))] if settings.metrics_token else []
    Instrumentator(excluded_handlers=["/metrics"]).instrument(app).expose(
        app, include_in_schema=False, dependencies=guard
    )
    return app


def _metrics_guard(token: str) -> Callable[[Request], None]:
    """The API faces clients: with METRICS_TOKEN set, its /metrics is for the scraper that holds the token."""
    expected = f"Bearer {token}".encode()

    def check(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):  # constant time: the token cannot be guessed byte by byte
            raise Problem(401, "metrics_token_required", "/metrics needs Authorization: Bearer <METRICS_TOKEN>.")

    return check

"""RFC 9457 problem details: every error response of the API is one of these."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from app.api.request_id import HEADER
from app.domain.jobs import JobRefused
from app.ops.outages import REDIS_DOWN, SERVICE_DOWN, STORAGE_DOWN

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An error to answer with a problem+json body; `code` is stable, `detail` is for a person."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(request: Request, status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    request_id = getattr(request.state, "request_id", None)
    body = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
        "request_id": request_id,
        **extra,
    }
    response = JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)
    if request_id is not None:  # a 500 is answered outside the middleware that sets it on every other response
        response.headers[HEADER] = request_id
    return response


def install(app: FastAPI) -> None:
    """Route every error through problem+json: ours, FastAPI's validation, Starlette's, and the unexpected."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        response = problem_response(request, exc.status, exc.code, _title(exc.status), exc.detail, **exc.extra)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(JobRefused)
    async def _refused(request: Request, exc: JobRefused) -> JSONResponse:
        # The job service's refusals carry their status and code: routes call it and never map errors by hand.
        response = problem_response(request, exc.status, exc.code, _title(exc.status), exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": _message(e)}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        return problem_response(request, 422, "invalid_request", "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = problem_response(request, exc.status_code, code, _title(exc.status_code), str(exc.detail))
        if exc.status_code == 405:
            # RFC 9110: every method the path takes, of all its routes (Starlette names only the first route's).
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A database, Redis or S3 restart or failover: expected, so one line in the log, and the client retries.
        what, code = ("job database", "database_unavailable")
        if isinstance(exc, REDIS_DOWN):
            what, code = ("Redis store", "redis_unavailable")
        elif isinstance(exc, STORAGE_DOWN):
            what, code = ("object store", "storage_unavailable")
        log.warning("%s %s: the %s did not answer (%r)", request.method, request.url.path, what, exc)
        detail = f"The {what} did not answer; retry in a few seconds."
        response = problem_response(request, 503, code, "Service Unavailable", detail)
        response.headers["Retry-After"] = "2"
        return response

    # Registered class by class: a handler of Exception itself runs in Starlette's outermost middleware,
    # which logs a traceback after answering; these are answered inside, like any other problem.
    for kind in SERVICE_DOWN:
        app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "internal_error", "Internal error", "Something went wrong on our side; the error was logged."
        )


def allowed_methods(request: Request) -> list[str]:
    """The methods some route answers on this request's path: of the app's own routes and its included routers
    (`app.state.routers`), which FastAPI keeps behind wrappers that name no methods."""
    routers = [request.app.router, *getattr(request.app.state, "routers", ())]
    methods: set[str] = set()
    for route in (route for router in routers for route in router.routes):
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def _message(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"

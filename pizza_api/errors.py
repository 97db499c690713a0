"""The contract's error bodies, and the one boundary that turns exceptions into them.

Every non-2xx reply is JSON with a string `error` member, keys in alphabetical order
as the original's Go maps had them. Pizza routes put an English sentence in `error`,
OAuth and bearer failures an RFC 6749/6750 code with `error_description`, other
routes a snake_case code with `message`.
"""

import logging
import typing as t

from connexion.exceptions import (
    BadRequestProblem,
    ProblemException,
    UnsupportedMediaTypeProblem,
)
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException

from pizza_api import jsonenc
from pizza_api.spec import SpecIndex

logger = logging.getLogger(__name__)

JSON = "application/json"


class ApiError(ProblemException):
    """An error with the contract's body; handlers and services raise it."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str | None = None,
        *,
        description_key: str = "message",
        extra: dict | None = None,
        headers: dict | None = None,
    ) -> None:
        super().__init__(status=status, title=error, detail=message, headers=headers)
        self.body: dict = {"error": error}
        if message is not None:
            self.body[description_key] = message
        self.body.update(extra or {})

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.body!r})"


class OAuthError(ApiError):
    """An RFC 6749 section 5.2 or RFC 6750 section 3.1 error with `error_description`."""

    def __init__(self, status: int, error: str, description: str, **kwargs: t.Any) -> None:
        super().__init__(status, error, description, description_key="error_description", **kwargs)


class RequestValidationError(BadRequestProblem):
    """A request value failed the spec; `location` is body, path, query, header or form."""

    def __init__(self, location: str, detail: str) -> None:
        super().__init__(detail=detail)
        self.location = location


class PayloadTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "payload_too_large", f"The request body exceeds the limit of {limit} bytes"
        )


def bearer_challenge(error: str | None = None, description: str = "") -> dict:
    """Return the RFC 6750 `WWW-Authenticate` header for a bearer failure."""
    value = 'Bearer realm="pizza-api"'
    if error:
        value += f', error="{error}"'
    if description:
        value += ', error_description="{}"'.format(description.replace('"', "'"))
    return {"WWW-Authenticate": value}


def error_body(body: dict, request_id: str | None) -> bytes:
    if request_id:
        body = {**body, "request_id": request_id}
    return jsonenc.dump_bytes(dict(sorted(body.items())))


# Text of the `error` member for request validation failures, by operation style.
_PIZZA_VALIDATION_ERRORS = {
    "path": "Invalid pizza ID format",
    "query": "Invalid query parameter",
}


class ErrorBoundary:
    """Connexion error handlers that map every exception to the contract's body."""

    def __init__(self, spec_index: SpecIndex) -> None:
        self.spec_index = spec_index

    def install(self, app: t.Any) -> None:
        app.add_error_handler(ProblemException, self.problem)
        app.add_error_handler(HTTPException, self.http_exception)
        app.add_error_handler(sa_exc.SQLAlchemyError, self.database_error)
        app.add_error_handler(UnicodeDecodeError, self.undecodable)
        app.add_error_handler(Exception, self.unexpected)

    def respond(self, request: ConnexionRequest, status: int, body: dict, headers=None):
        request_id = request.scope.get("pizza_api.request_id")
        level = logging.ERROR if status >= 500 else logging.INFO
        logger.log(
            level,
            "request_failed",
            extra={"status": status, "error": body.get("error"), "request_id": request_id},
        )
        return ConnexionResponse(
            status_code=status,
            mimetype=JSON,
            body=error_body(body, request_id),
            headers=dict(headers or {}),
        )

    async def problem(self, request: ConnexionRequest, exc: ProblemException):
        if isinstance(exc, ApiError):
            return self.respond(request, exc.status, exc.body, exc.headers)
        operation = self.spec_index.operation_for(request.scope)
        if operation is not None and operation.style == "oauth":
            status = 400 if exc.status in (400, 415) else exc.status
            error = OAuthError(status, "invalid_request", self._detail(exc), headers=exc.headers)
            error.headers = {**(exc.headers or {}), "Cache-Control": "no-store"}
            return self.respond(request, error.status, error.body, error.headers)
        if isinstance(exc, UnsupportedMediaTypeProblem):
            body = {"error": "unsupported_media_type", "message": self._detail(exc)}
            return self.respond(request, 415, body, exc.headers)
        if exc.status == 400:
            location = getattr(exc, "location", "body")
            if operation is not None and operation.style == "pizzas":
                error = _PIZZA_VALIDATION_ERRORS.get(location, "Invalid request body")
            else:
                error = "invalid_request"
            return self.respond(request, 400, {"error": error, "message": self._detail(exc)})
        code = "internal_error" if exc.status >= 500 else "invalid_request"
        body = {"error": code, "message": self._detail(exc)}
        return self.respond(request, exc.status, body, exc.headers)

    async def http_exception(self, request: ConnexionRequest, exc: HTTPException):
        method = request.scope.get("method", "")
        path = request.scope.get("path", "")
        if exc.status_code == 404:
            body = {"error": "not_found", "message": f"No route matches {method} {path}"}
            return self.respond(request, 404, body)
        if exc.status_code == 405:
            allowed = self.spec_index.allowed_methods(path)
            body = {
                "error": "method_not_allowed",
                "message": f"{method} is not allowed on {path}; use {', '.join(allowed)}",
            }
            return self.respond(request, 405, body, {"Allow": ", ".join(allowed)})
        body = {"error": "http_error", "message": str(exc.detail)}
        return self.respond(request, exc.status_code, body, exc.headers)

    async def database_error(self, request: ConnexionRequest, exc: sa_exc.SQLAlchemyError):
        if isinstance(exc, sa_exc.IntegrityError):
            logger.info("integrity_error", extra={"error_type": type(exc.orig).__name__})
            body = {"error": "conflict", "message": "The change conflicts with existing data"}
            return self.respond(request, 409, body)
        logger.error("database_error", exc_info=exc)
        body = {
            "error": "service_unavailable",
            "message": "The database is unavailable or rejected the change; retry later",
        }
        return self.respond(request, 503, body, {"Retry-After": "5"})

    async def undecodable(self, request: ConnexionRequest, exc: UnicodeDecodeError):
        error = RequestValidationError("body", "The request body is not valid UTF-8")
        return await self.problem(request, error)

    async def unexpected(self, request: ConnexionRequest, exc: Exception):
        logger.error("unhandled_exception", exc_info=exc)
        body = {"error": "internal_error", "message": "An unexpected error occurred"}
        return self.respond(request, 500, body)

    @staticmethod
    def _detail(exc: ProblemException) -> str:
        return str(exc.detail or exc.title or "The request is invalid")

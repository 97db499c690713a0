"""Pure ASGI middleware around the Connexion app: request ids, access log, body limit."""

import logging
import re
import time
import typing as t
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pizza_api import errors, metrics
from pizza_api.context import SCOPE_KEY

access_logger = logging.getLogger("pizza_api.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")


class RequestContextMiddleware:
    """Attach services and a request id to each request, and log it once when done.

    A client's `X-Request-ID` is kept when it is 1 to 128 characters of letters,
    digits and `._:-`; otherwise a new one is made. Either way it is echoed back.
    """

    def __init__(self, app: ASGIApp, services: t.Any) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope[SCOPE_KEY] = self.services
        scope["pizza_api.request_id"] = request_id
        # Connexion copies the scope; this dict is shared, so inner layers can fill it.
        state = scope["pizza_api.state"] = {"client_id": None}
        if scope["path"] == "/swagger/doc.json":
            # The original served its spec here; clients and bookmarks still ask for it.
            scope["path"] = "/openapi.json"
            scope["raw_path"] = b"/openapi.json"
        _default_content_type(scope, self.services.spec_index)
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (name, _with_charset(value) if name.lower() == b"content-type" else value)
                    for name, value in message.get("headers", [])
                ]
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            access_logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client_id": state["client_id"],
                    "request_id": request_id,
                },
            )
            metrics.observe_request(self.services, scope, status, time.perf_counter() - started)


def _default_content_type(scope: Scope, spec_index: t.Any) -> None:
    """Give a body without Content-Type the operation's first media type.

    The original decoded JSON bodies whatever their Content-Type was. A missing
    header is taken as the documented type, while a wrong one still gets 415.
    """
    if any(name == b"content-type" for name, _ in scope.get("headers", [])):
        return
    operation = spec_index.operation_for(scope)
    if operation is not None and operation.consumes:
        media_type = operation.consumes[0].encode("latin-1")
        scope["headers"] = [*scope.get("headers", []), (b"content-type", media_type)]


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None


def _with_charset(value: bytes) -> bytes:
    # Go's Gin sends JSON as "application/json; charset=utf-8"; clients may match it.
    if value.split(b";")[0].strip().lower() == b"application/json" and b"charset" not in value:
        return b"application/json; charset=utf-8"
    return value


class BodyLimitMiddleware:
    """Return 413 for bodies over `limit` bytes, by Content-Length or while streaming.

    A chunked body (no Content-Length) is read here, up to `limit` bytes, and passed on
    with a Content-Length: Connexion treats a request without one as having no body.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._reject(scope, send)
            return
        if declared is None and _has_header(scope, b"transfer-encoding"):
            try:
                body = await _read_body(receive, self.limit)
            except ClientDisconnect:
                return  # the client is gone, and a partial body must not be processed
            if body is None:
                await self._reject(scope, send)
                return
            scope, receive = _with_buffered_body(scope, receive, body)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise errors.PayloadTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        error = errors.PayloadTooLarge(self.limit)
        body = errors.error_body(error.body, scope.get("pizza_api.request_id"))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key == name for key, _ in scope.get("headers", []))


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """Return the whole request body, or None as soon as it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _with_buffered_body(scope: Scope, receive: Receive, body: bytes) -> tuple[Scope, Receive]:
    """Return a scope with Content-Length in place of Transfer-Encoding, and a replay."""
    headers = [(key, value) for key, value in scope["headers"] if key != b"transfer-encoding"]
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return {**scope, "headers": headers}, replay


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

"""Build the ASGI application from openapi.yaml and a Settings object."""

import typing as t

import connexion
from connexion.frameworks import starlette as connexion_starlette
from connexion.options import SwaggerUIOptions
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response

from pizza_api import jsonenc, metrics, spec, validation
from pizza_api.context import Services
from pizza_api.db import Database
from pizza_api.errors import ErrorBoundary, error_body
from pizza_api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from pizza_api.security import make_bearer_handler
from pizza_api.settings import Settings

SWAGGER_PATH = "/swagger"
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
CORS_RESPONSE_HEADERS = ["ETag", "Retry-After", "X-Request-ID", "Idempotent-Replayed"]

# Connexion routes an integer path parameter with a `[+-]?[0-9]+` converter, so
# `/pizzas/abc` would be an unrouted 404 and `/pizzas/+5` pizza 5. Matching any
# segment lets the strict parameter validator return the contract's 400 instead.
connexion_starlette.PATH_PARAMETER_CONVERTERS.pop("integer", None)


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with a rejected preflight in the contract's error shape."""

    def preflight_response(self, request_headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = response.body.decode("utf-8", "replace")
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-type", "content-length")
        }
        return Response(
            error_body({"error": "cors_rejected", "message": reason}, None),
            status_code=response.status_code,
            headers=headers,
            media_type="application/json; charset=utf-8",
        )


def create_app(settings: Settings, *, db: Database | None = None) -> t.Any:
    """Return the ASGI app: Connexion routing and validation inside our middleware.

    The caller prepares the database (migrations, seed data) before serving; see
    `pizza_api.startup`.
    """
    published = spec.published_spec(spec.load_spec())
    spec_index = spec.SpecIndex(published)
    services = Services.build(settings, db or Database(settings), spec_index)
    metrics.instrument_pool(services.db.engine)

    bearer = make_bearer_handler(services)
    app = connexion.AsyncApp(
        __name__,
        jsonifier=jsonenc.GoJsonifier(),
        validator_map=validation.validator_map(),
        security_map={"bearer": bearer, "oauth2": bearer},
        swagger_ui_options=SwaggerUIOptions(
            swagger_ui_path=SWAGGER_PATH,
            swagger_ui_config={"persistAuthorization": True},
        ),
    )
    app.add_api(
        published,
        strict_validation=False,
        validate_responses=settings.validate_responses,
    )
    ErrorBoundary(spec_index).install(app)

    wrapped = BodyLimitMiddleware(app, settings.max_body_bytes)
    wrapped = GZipMiddleware(wrapped, minimum_size=1024)
    wrapped = RequestContextMiddleware(wrapped, services)
    if settings.cors_allowed_origins:
        # Outermost, so that error responses from every inner layer carry CORS headers too.
        wrapped = JSONCORSMiddleware(
            wrapped,
            allow_origins=list(settings.cors_allowed_origins),
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=sorted({op.method for op in spec_index.operations.values()}),
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            max_age=600,
        )
    wrapped.services = services
    return wrapped

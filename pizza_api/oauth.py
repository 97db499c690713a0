"""The client credentials grant (RFC 6749 section 4.4) and its error responses."""

import base64
import binascii
import logging
import typing as t
from urllib.parse import unquote_plus

import anyio

from pizza_api import clients, metrics, security
from pizza_api.errors import OAuthError

logger = logging.getLogger(__name__)

GRANT_TYPE = "client_credentials"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_error(status: int, error: str, description: str, headers: dict | None = None):
    return OAuthError(status, error, description, headers={**NO_STORE, **(headers or {})})


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """Return (client_id, secret) from an HTTP Basic header, or None without one.

    Both parts are form-urlencoded before base64 (RFC 6749 section 2.3.1), which is
    what Go's x/oauth2 sends.
    """
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    # b64decode raises a plain ValueError for text outside ASCII, which a header may carry.
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise token_error(
            400, "invalid_request", "The Authorization header is not valid Basic credentials"
        ) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise token_error(
            400, "invalid_request", "Basic credentials must be client_id:client_secret"
        )
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    # Form fields with NUL get 400 from the validator; PostgreSQL cannot compare them.
    if "\x00" in client_id or "\x00" in secret:
        raise token_error(
            400, "invalid_request", "Basic credentials must not contain NUL characters"
        )
    return client_id, secret


def client_credentials(form: dict, authorization: str | None) -> tuple[str, str, bool]:
    """Return (client_id, secret, used_basic) from exactly one authentication method."""
    basic = basic_credentials(authorization)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if basic is not None:
        if form_secret is not None or (form_id is not None and form_id != basic[0]):
            raise token_error(
                400,
                "invalid_request",
                "Authenticate with HTTP Basic or with form fields, not both",
            )
        return basic[0], basic[1], True
    if not form_id:
        raise token_error(
            401,
            "invalid_client",
            "Client authentication is missing; send client_id and client_secret",
        )
    return form_id, form_secret or "", False


# Seconds a token request waits for a free bcrypt slot before it gets 503.
BCRYPT_WAIT_SECONDS = 5.0


async def grant_token(
    services: t.Any,
    form: dict,
    authorization: str | None,
    address: str = "unknown",
    state: dict | None = None,
) -> dict:
    """Authenticate the client and return the token reply; raise RFC 6749 errors.

    Database and rate limit calls run in worker threads. The wait for a bcrypt slot
    runs on the event loop, so queued token requests hold no thread that other
    requests need. On success the client id is stored in `state["client_id"]` for the
    access log.
    """
    client_id, secret, used_basic, client, owner = await anyio.to_thread.run_sync(
        _load_client, services, form, authorization, address
    )
    # Unknown client and wrong secret take the same time and get the same response.
    authenticated = await _verify_in_slot(
        services, client_id, secret, client.secret_hash if client else None
    )
    reply = await anyio.to_thread.run_sync(
        _reply, services, form, client_id, used_basic, client, owner, authenticated
    )
    metrics.token_issued()
    if state is not None:
        state["client_id"] = client_id
    return reply


def _load_client(
    services: t.Any, form: dict, authorization: str | None, address: str
) -> tuple[str, str, bool, t.Any, t.Any]:
    grant_type = form.get("grant_type")
    if not grant_type:
        raise token_error(400, "invalid_request", "grant_type is required")
    if grant_type != GRANT_TYPE:
        raise token_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    client_id, secret, used_basic = client_credentials(form, authorization)
    services.limiter.check_token(client_id, address)

    with services.db.session(read_only=True) as session:
        client = clients.find_live_client(session, client_id)
        owner = clients.owner_of(session, client) if client is not None else None
    return client_id, secret, used_basic, client, owner


async def _verify_in_slot(
    services: t.Any, client_id: str, secret: str, secret_hash: str | None
) -> bool:
    slots = services.bcrypt_slots
    with anyio.move_on_after(BCRYPT_WAIT_SECONDS) as wait:
        await slots.acquire()
    if wait.cancelled_caught:
        logger.warning("token_request_shed", extra={"client_id": client_id[:255]})
        raise token_error(
            503,
            "temporarily_unavailable",
            "Too many token requests are being checked; retry shortly",
            {"Retry-After": "1"},
        )
    try:
        return await anyio.to_thread.run_sync(security.verify_secret, secret, secret_hash)
    finally:
        slots.release()


def _reply(
    services: t.Any,
    form: dict,
    client_id: str,
    used_basic: bool,
    client: t.Any,
    owner: t.Any,
    authenticated: bool,
) -> dict:
    if not authenticated or owner is None:
        services.limiter.record_token_failure(client_id)
        logger.info("client_authentication_failed", extra={"client_id": client_id[:255]})
        challenge = {"WWW-Authenticate": 'Basic realm="pizza-api"'} if used_basic else {}
        raise token_error(401, "invalid_client", "Client authentication failed", challenge)

    grant_types = set(client.grant_types.split())
    if grant_types and GRANT_TYPE not in grant_types:
        raise token_error(
            400, "unauthorized_client", "This client may not use the client_credentials grant"
        )
    requested = form.get("scope")
    if requested is not None:
        scopes = requested.split()
        missing = sorted(set(scopes) - client.scope_set)
        if missing:
            raise token_error(
                400, "invalid_scope", f"The client lacks the scopes: {' '.join(missing)}"
            )
        scope = " ".join(dict.fromkeys(scopes))
    else:
        scope = client.scopes

    settings = services.settings
    access_token = security.issue_token(
        secret=settings.jwt_secret,
        issuer=settings.jwt_issuer,
        lifetime=settings.jwt_expiration,
        client_id=client.id,
        user=owner,
        scope=scope,
    )
    logger.info("token_issued", extra={"client_id": client.id})
    reply = {"access_token": access_token, "expires_in": settings.jwt_expiration}
    if scope:
        reply["scope"] = scope
    reply["token_type"] = "Bearer"
    return reply

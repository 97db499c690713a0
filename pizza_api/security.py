"""Client secrets (bcrypt), access tokens (HS512 JWT) and the bearer check."""

import logging
import time
import typing as t
import warnings

import anyio
import bcrypt
import jwt
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import select

from pizza_api.errors import ApiError, OAuthError, bearer_challenge
from pizza_api.models import ROLES, OAuthClient, User

logger = logging.getLogger(__name__)

JWT_ALGORITHM = "HS512"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "uid", "role"]
# bcrypt reads at most 72 bytes; longer secrets are rejected rather than truncated.
MAX_SECRET_BYTES = 72
MAX_TOKEN_LENGTH = 4096
MAX_UID = 2**63 - 1
# RFC 7518 recommends 64-byte keys for HS512; the contract requires 32 characters,
# so shorter keys are accepted and `pizza-api serve` warns once at start instead.
RECOMMENDED_KEY_BYTES = 64
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)


def hash_secret(secret: str, rounds: int = 10) -> str:
    """Return the bcrypt hash of a client secret."""
    encoded = secret.encode("utf-8")
    if len(encoded) > MAX_SECRET_BYTES:
        raise ValueError(f"secrets longer than {MAX_SECRET_BYTES} bytes cannot be hashed")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds)).decode("ascii")


# Compared against when the client id is unknown, so both failures take as long.
_DUMMY_HASH = hash_secret("no-such-client-secret", 10)


def verify_secret(secret: str, secret_hash: str | None) -> bool:
    """Check `secret` against a bcrypt hash; `None` spends the same time and fails."""
    encoded = secret.encode("utf-8", "surrogateescape")
    usable = secret_hash is not None and len(encoded) <= MAX_SECRET_BYTES and b"\0" not in encoded
    candidate = encoded[:MAX_SECRET_BYTES].replace(b"\0", b"")
    try:
        matches = bcrypt.checkpw(
            candidate, (secret_hash if usable else _DUMMY_HASH).encode("ascii")
        )
    except ValueError:
        logger.error("stored_secret_hash_invalid")
        return False
    return usable and matches


def issue_token(
    *, secret: str, issuer: str, lifetime: int, client_id: str, user: User, scope: str
) -> str:
    now = int(time.time())
    claims = {
        "aud": client_id,
        "exp": now + lifetime,
        "iat": now,
        "iss": issuer,
        "role": user.role,
        "scope": scope,
        "uid": str(user.id),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def invalid_token(description: str) -> OAuthError:
    return OAuthError(
        401,
        "invalid_token",
        description,
        headers=bearer_challenge("invalid_token", description),
    )


def decode_token(token: str, *, secret: str, issuer: str) -> dict:
    """Verify signature, algorithm, expiry and claim types; raise a 401 OAuthError."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid_token("The access token is too long")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            issuer=issuer,
            options={"require": REQUIRED_CLAIMS, "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        description = "The access token expired; request a new one"
        raise OAuthError(
            401,
            "expired_token",
            description,
            headers=bearer_challenge("invalid_token", description),
        ) from None
    except jwt.InvalidTokenError as exc:
        logger.info("token_rejected", extra={"reason": type(exc).__name__})
        raise invalid_token("The access token is invalid") from None

    for claim in ("exp", "iat"):
        # PyJWT also takes numeric strings; RFC 7519 section 2 requires a JSON number.
        if type(claims[claim]) is not int:
            raise invalid_token(f"The access token's {claim} claim is not an integer")
    uid, role, aud = claims["uid"], claims["role"], claims["aud"]
    if not (isinstance(uid, str) and uid.isascii() and uid.isdigit() and 0 < int(uid) <= MAX_UID):
        raise invalid_token("The access token has an invalid uid claim")
    if role not in ROLES:
        raise invalid_token("The access token has an invalid role claim")
    if not isinstance(aud, str) or not 0 < len(aud) <= 255 or "\x00" in aud:
        raise invalid_token("The access token has an invalid aud claim")
    return claims


def resolve_caller(session, claims: dict) -> dict:
    """Check that the token's client is live and owned by its uid; return the caller.

    The role comes from the database, so a role change or a deleted client takes
    effect at once instead of when the token expires.
    """
    uid = int(claims["uid"])
    row = session.execute(
        select(OAuthClient.user_id, User.role)
        .join(User, User.id == OAuthClient.user_id)
        .where(OAuthClient.id == claims["aud"], OAuthClient.deleted_at.is_(None))
    ).first()
    if row is None:
        raise invalid_token("The access token's client no longer exists")
    if row.user_id != uid:
        raise invalid_token("The access token does not match its client")
    return {
        "sub": str(uid),
        "uid": uid,
        "role": row.role,
        "client_id": claims["aud"],
        "scope": claims.get("scope", ""),
    }


def require_role(caller: dict, role: str) -> None:
    if caller["role"] != role:
        raise ApiError(
            403,
            "insufficient_permissions",
            f"This operation requires the {role} role",
            description_key="error_description",
            extra={"required_role": role, "user_id": caller["uid"], "user_role": caller["role"]},
        )


def bearer_token(authorization: str | None) -> str:
    """Extract the token from an Authorization header; raise the contract's 401s.

    The scheme name is case-insensitive (RFC 7235 section 2.1).
    """
    if authorization is None or not authorization.strip():
        raise OAuthError(
            401,
            "authorization_required",
            "The Authorization header is missing; send `Authorization: Bearer <token>`",
            headers=bearer_challenge(),
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        description = "The Authorization header must use the Bearer scheme"
        raise OAuthError(
            401,
            "invalid_request",
            description,
            headers=bearer_challenge("invalid_request", description),
        )
    token = token.strip()
    if not token or " " in token:
        raise invalid_token("The bearer token is empty or malformed")
    return token


def make_bearer_handler(services: t.Any) -> type:
    """Build the Connexion security handler for bearer and OAuth2 schemes.

    One function checks both schemes, so both return the same errors. The operation's
    `x-required-role` is checked here, before the request body is validated.
    """

    class BearerHandler:
        def get_fn(self, security_scheme: dict, required_scopes: list) -> t.Callable:
            return verify

    async def verify(request) -> dict:
        headers = request.headers.getlist("authorization")
        if len(headers) > 1:
            raise OAuthError(
                401,
                "invalid_request",
                "Send exactly one Authorization header",
                headers=bearer_challenge("invalid_request"),
            )
        token = bearer_token(headers[0] if headers else None)
        settings = services.settings
        claims = decode_token(token, secret=settings.jwt_secret, issuer=settings.jwt_issuer)

        def load() -> dict:
            with services.db.session(read_only=True) as session:
                return resolve_caller(session, claims)

        caller = await anyio.to_thread.run_sync(load)
        request.scope["pizza_api.state"]["client_id"] = caller["client_id"]
        services.limiter.check_api(caller["client_id"])
        operation = services.spec_index.operation_for(request.scope)
        if operation is not None and operation.required_role:
            require_role(caller, operation.required_role)
        return caller

    return BearerHandler

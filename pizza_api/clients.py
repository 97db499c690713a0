"""OAuth clients: creation with a one-time secret, listing and soft deletion."""

import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from pizza_api.errors import ApiError
from pizza_api.models import OAuthClient, User, utcnow
from pizza_api.pizzas import rfc3339

DEFAULT_SCOPES = "read write"
DEFAULT_GRANT_TYPES = "client_credentials"


def generate_secret() -> str:
    """Return a new client secret: 256 random bits, URL-safe, 43 characters."""
    return secrets.token_urlsafe(32)


def to_dict(client: OAuthClient) -> dict:
    """Return a client as listed: snake_case keys and never the secret hash."""
    return {
        "client_id": client.id,
        "name": client.name,
        "domain": client.domain,
        "redirect_uri": client.redirect_uri,
        "scopes": client.scopes,
        "grant_types": client.grant_types,
        "user_id": client.user_id,
        "created_at": rfc3339(client.created_at),
        "updated_at": rfc3339(client.updated_at),
    }


def create_client(
    session: Session,
    *,
    owner_id: int,
    name: str,
    secret_hash: str,
    client_id: str | None = None,
    domain: str = "",
    scopes: str | None = None,
    grant_types: str | None = None,
    redirect_uri: str = "",
) -> OAuthClient:
    """Insert a client owned by `owner_id`; the caller hashes the secret first.

    bcrypt takes tens of milliseconds, so hashing happens before the transaction
    opens instead of while it holds locks.
    """
    now = utcnow()
    client = OAuthClient(
        id=client_id or str(uuid.uuid4()),
        secret_hash=secret_hash,
        name=name,
        domain=domain,
        scopes=DEFAULT_SCOPES if scopes is None else scopes,
        grant_types=grant_types or DEFAULT_GRANT_TYPES,
        redirect_uri=redirect_uri,
        user_id=owner_id,
        created_at=now,
        updated_at=now,
    )
    session.add(client)
    session.flush()
    return client


def created_reply(client: OAuthClient, secret: str) -> dict:
    """Return the one reply that carries the plain secret, keys in alphabetical order."""
    return {
        "client_id": client.id,
        "client_secret": secret,
        "grant_types": client.grant_types,
        "name": client.name,
        "redirect_uri": client.redirect_uri,
        "scopes": client.scopes,
    }


def list_clients(session: Session, owner_id: int | None = None) -> list[OAuthClient]:
    query = select(OAuthClient).where(OAuthClient.deleted_at.is_(None))
    if owner_id is not None:
        query = query.where(OAuthClient.user_id == owner_id)
    return list(session.scalars(query.order_by(OAuthClient.created_at, OAuthClient.id)))


def find_live_client(session: Session, client_id: str) -> OAuthClient | None:
    client = session.scalars(
        select(OAuthClient).where(OAuthClient.id == client_id, OAuthClient.deleted_at.is_(None))
    ).first()
    return client if _same_id(client, client_id) else None


def _same_id(client: OAuthClient | None, client_id: str) -> bool:
    # MariaDB's default collation (utf8mb4_general_ci) also matches ids that differ in
    # case, accents or trailing spaces; ids are compared exactly on every backend.
    return client is not None and client.id == client_id


def delete_client(session: Session, client_id: str, owner_id: int | None) -> None:
    """Soft-delete a live client; with `owner_id`, only one that this user owns."""
    query = select(OAuthClient).where(OAuthClient.id == client_id, OAuthClient.deleted_at.is_(None))
    if owner_id is not None:
        query = query.where(OAuthClient.user_id == owner_id)
    client = session.scalars(query.with_for_update()).first()
    if not _same_id(client, client_id):
        raise ApiError(404, "client_not_found", "No client with this id belongs to you")
    client.deleted_at = utcnow()
    session.flush()


def owner_of(session: Session, client: OAuthClient) -> User | None:
    return session.get(User, client.user_id)

"""Start-up data: demo data in development, and the bootstrap admin client.

Both are safe when several processes start at once: each runs in one transaction,
and a unique key decides which process writes (the loser's insert fails and it
re-reads). No secret is ever logged.
"""

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pizza_api import clients
from pizza_api.db import Database
from pizza_api.models import AppMeta, OAuthClient, Pizza, User, utcnow
from pizza_api.security import hash_secret, verify_secret
from pizza_api.settings import Settings

logger = logging.getLogger(__name__)

SYSTEM_EMAIL = "system@pizza.com"
DEMO_SEEDED_KEY = "demo_data_seeded"
DEMO_PIZZAS = (
    ("Margherita", 10.99, ["Tomato Sauce", "Mozzarella", "Basil"]),
    ("Pepperoni", 12.99, ["Tomato Sauce", "Mozzarella", "Pepperoni"]),
    ("Vegetarian", 11.99, ["Tomato Sauce", "Mozzarella", "Bell Peppers", "Olives"]),
)
# Well-known development credentials of the original service; never seeded outside
# development.
DEMO_CLIENTS = (
    ("dev-client", "dev-secret-123", "Development Client", SYSTEM_EMAIL),
    ("user-client", "user-secret-123", "User Test Client", "user@pizza.com"),
)
_RACE_RETRIES = 3


def get_or_create_user(session: Session, email: str, name: str, role: str) -> User:
    user = session.scalars(select(User).where(User.email == email)).first()
    if user is None:
        user = User(email=email, name=name, role=role)
        session.add(user)
        session.flush()
    return user


def seed_demo_data(db: Database, settings: Settings) -> bool:
    """Insert the demo users, pizzas and clients once; return True if this call did."""
    with db.session(read_only=True) as session:
        if session.get(AppMeta, DEMO_SEEDED_KEY) is not None:
            return False
    hashes = {
        cid: hash_secret(secret, settings.bcrypt_rounds) for cid, secret, _, _ in DEMO_CLIENTS
    }
    try:
        with db.session() as session:
            session.add(AppMeta(key=DEMO_SEEDED_KEY, value="1"))
            session.flush()
            admin = get_or_create_user(session, SYSTEM_EMAIL, "System User", "admin")
            user = get_or_create_user(session, "user@pizza.com", "Regular User", "user")
            owners = {SYSTEM_EMAIL: admin, "user@pizza.com": user}
            now = utcnow()
            for name, price, ingredients in DEMO_PIZZAS:
                session.add(
                    Pizza(
                        name=name,
                        description="",
                        ingredients=ingredients,
                        price=price,
                        created_by=admin.id,
                        created_at=now,
                        updated_at=now,
                    )
                )
            for client_id, _, name, owner_email in DEMO_CLIENTS:
                if session.get(OAuthClient, client_id) is None:
                    clients.create_client(
                        session,
                        owner_id=owners[owner_email].id,
                        name=name,
                        secret_hash=hashes[client_id],
                        client_id=client_id,
                    )
    except IntegrityError:
        logger.info("demo_data_seeded_by_another_process")
        return False
    logger.info(
        "demo_data_seeded",
        extra={"pizzas": len(DEMO_PIZZAS), "clients": [c[0] for c in DEMO_CLIENTS]},
    )
    return True


def bootstrap_client(db: Database, settings: Settings) -> str | None:
    """Make sure the bootstrap admin client exists with the configured secret.

    Returns "created", "rotated", "unchanged", "deleted" or None when no secret is
    configured. A client that an admin deleted is not brought back.
    """
    client_id, secret = settings.bootstrap_client_id, settings.bootstrap_client_secret
    if not secret:
        logger.info(
            "bootstrap_client_skipped", extra={"reason": "BOOTSTRAP_CLIENT_SECRET is not set"}
        )
        return None
    secret_hash = hash_secret(secret, settings.bcrypt_rounds)
    for _ in range(_RACE_RETRIES):
        try:
            with db.session() as session:
                outcome = _bootstrap(session, client_id, secret, secret_hash)
        except IntegrityError:
            continue  # another process inserted the user or client first; look again
        log = logger.warning if outcome == "deleted" else logger.info
        log("bootstrap_client_" + outcome, extra={"client_id": client_id})
        return outcome
    raise RuntimeError(
        f"could not create bootstrap client {client_id!r} after {_RACE_RETRIES} tries"
    )


def _bootstrap(session: Session, client_id: str, secret: str, secret_hash: str) -> str:
    existing = session.get(OAuthClient, client_id)
    if existing is not None:
        if existing.deleted_at is not None:
            return "deleted"
        if verify_secret(secret, existing.secret_hash):
            return "unchanged"
        existing.secret_hash = secret_hash
        existing.updated_at = utcnow()
        return "rotated"
    admin = get_or_create_user(session, SYSTEM_EMAIL, "System User", "admin")
    clients.create_client(
        session,
        owner_id=admin.id,
        name="Bootstrap Admin Client",
        secret_hash=secret_hash,
        client_id=client_id,
    )
    return "created"

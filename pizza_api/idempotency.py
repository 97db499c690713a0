"""Idempotency-Key on creates: a retried request returns the first result.

The first request with a key stores its response with the key, in the same
transaction as the created row, so both exist or neither does. A retry with the
same key and body within `IDEMPOTENCY_TTL` seconds gets the stored response; the
same key with another body is a 422. Keys are scoped to the calling client.

A client secret in a stored response is encrypted with AES-GCM under a key
derived from JWT_SECRET, and the row expires with the key, so the secret is never
kept in plain text.
"""

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import typing as t

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pizza_api.errors import ApiError
from pizza_api.models import IdempotencyKey, utcnow

HEADER = "idempotency-key"
_SEALED_PREFIX = "sealed:"


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: int
    body: dict
    replayed: bool


def request_hash(payload: t.Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Sealer:
    """Encrypt and decrypt stored secrets with a key derived from JWT_SECRET."""

    def __init__(self, jwt_secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"pizza-api idempotency"
        ).derive(jwt_secret.encode("utf-8"))
        self._aead = AESGCM(key)

    def seal(self, text: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, text.encode("utf-8"), None)
        return _SEALED_PREFIX + base64.b64encode(sealed).decode("ascii")

    def unseal(self, value: str) -> str:
        raw = base64.b64decode(value.removeprefix(_SEALED_PREFIX))
        return self._aead.decrypt(raw[:12], raw[12:], None).decode("utf-8")


def run(
    db: t.Any,
    sealer: Sealer,
    *,
    client_id: str,
    key: str | None,
    operation: str,
    payload: t.Any,
    ttl: int,
    reuse_error: str,
    create: t.Callable[[Session], tuple[int, dict]],
    sealed_fields: tuple = (),
) -> Outcome:
    """Run `create` once per (client, key); replay its stored result for retries."""
    if key is None:
        with db.session() as session:
            status, body = create(session)
        return Outcome(status, body, False)

    digest = request_hash(payload)
    for attempt in range(2):
        try:
            with db.session() as session:
                stored = _find(session, client_id, key, ttl)
                if stored is not None:
                    return _replay(stored, operation, digest, reuse_error, sealer, sealed_fields)
                status, body = create(session)
                stored_body = {
                    name: sealer.seal(value) if name in sealed_fields else value
                    for name, value in body.items()
                }
                session.add(
                    IdempotencyKey(
                        client_id=client_id,
                        key=key,
                        operation=operation,
                        request_hash=digest,
                        status=status,
                        response_body=json.dumps(stored_body, separators=(",", ":")),
                        created_at=utcnow(),
                    )
                )
                session.flush()
            return Outcome(status, body, False)
        except IntegrityError:
            # A concurrent request with the same key committed first: replay it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _find(session: Session, client_id: str, key: str, ttl: int) -> IdempotencyKey | None:
    cutoff = utcnow() - dt.timedelta(seconds=ttl)
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.client_id == client_id, IdempotencyKey.created_at < cutoff
        )
    )
    return session.get(IdempotencyKey, (client_id, key))


def _replay(
    stored: IdempotencyKey,
    operation: str,
    digest: str,
    reuse_error: str,
    sealer: Sealer,
    sealed_fields: tuple,
) -> Outcome:
    if stored.operation != operation or stored.request_hash != digest:
        raise ApiError(
            422,
            reuse_error,
            "This Idempotency-Key was used for a different request; use a new key",
        )
    body = json.loads(stored.response_body)
    try:
        for name in sealed_fields:
            if name in body:
                body[name] = sealer.unseal(body[name])
    except (InvalidTag, ValueError):
        raise ApiError(
            409,
            "conflict",
            "The first response for this Idempotency-Key can no longer be replayed "
            "because JWT_SECRET changed; use a new key",
        ) from None
    return Outcome(stored.status, body, True)

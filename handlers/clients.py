from connexion import request

from pizza_api import clients, idempotency, security
from pizza_api.context import services


def create_client(body, token_info):
    svc = services()
    secret = clients.generate_secret()
    secret_hash = security.hash_secret(secret, svc.settings.bcrypt_rounds)

    def create(session):
        client = clients.create_client(
            session,
            owner_id=token_info["uid"],
            name=body["name"],
            secret_hash=secret_hash,
            domain=body.get("domain", ""),
            scopes=body.get("scopes"),
            grant_types=body.get("grant_types"),
            redirect_uri=body.get("redirect_uri", ""),
        )
        return 201, clients.created_reply(client, secret)

    outcome = idempotency.run(
        svc.db,
        svc.sealer,
        client_id=token_info["client_id"],
        key=request.headers.get(idempotency.HEADER),
        operation="create_client",
        payload=body,
        ttl=svc.settings.idempotency_ttl,
        reuse_error="idempotency_key_reused",
        create=create,
        sealed_fields=("client_secret",),
    )
    headers = {"Cache-Control": "no-store"}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return outcome.body, outcome.status, headers


def list_clients(token_info):
    with services().db.session(read_only=True) as session:
        rows = clients.list_clients(session, owner_id=token_info["uid"])
        return [clients.to_dict(client) for client in rows], 200


def delete_client(id, token_info):
    with services().db.session() as session:
        clients.delete_client(session, id, owner_id=token_info["uid"])
    return None, 204

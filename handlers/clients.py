from pizza_api import clients, security
from pizza_api.context import services


def create_client(body, token_info):
    svc = services()
    secret = clients.generate_secret()
    secret_hash = security.hash_secret(secret, svc.settings.bcrypt_rounds)
    with svc.db.session() as session:
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
        reply = clients.created_reply(client, secret)
    return reply, 201, {"Cache-Control": "no-store"}


def list_clients(token_info):
    with services().db.session(read_only=True) as session:
        rows = clients.list_clients(session, owner_id=token_info["uid"])
        return [clients.to_dict(client) for client in rows], 200


def delete_client(id, token_info):
    with services().db.session() as session:
        clients.delete_client(session, id, owner_id=token_info["uid"])
    return None, 204

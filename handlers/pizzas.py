from connexion import request

from pizza_api import conditional, idempotency, pizzas
from pizza_api.context import services


def list_pizzas(name=None, created_by=None, limit=None, offset=0):
    svc = services()
    with svc.db.session(read_only=True) as session:
        rows = pizzas.list_pizzas(
            session, name=name, created_by=created_by, limit=limit, offset=offset
        )
        body = [pizzas.to_dict(pizza) for pizza in rows]
    return conditional.read_response(
        body, request.headers.get("if-none-match"), svc.settings.public_cache_max_age
    )


def get_pizza(id):
    svc = services()
    with svc.db.session(read_only=True) as session:
        body = pizzas.to_dict(pizzas.get_pizza(session, id))
    return conditional.read_response(
        body, request.headers.get("if-none-match"), svc.settings.public_cache_max_age
    )


def create_pizza(body, token_info):
    svc = services()

    def create(session):
        return 201, pizzas.to_dict(pizzas.create_pizza(session, token_info, body))

    outcome = idempotency.run(
        svc.db,
        svc.sealer,
        client_id=token_info["client_id"],
        key=request.headers.get(idempotency.HEADER),
        operation="create_pizza",
        payload=body,
        ttl=svc.settings.idempotency_ttl,
        reuse_error="Idempotency key was used for another request",
        create=create,
    )
    headers = {"ETag": conditional.etag_for(outcome.body)}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return outcome.body, outcome.status, headers


def update_pizza(id, body, token_info):
    with services().db.session() as session:
        pizza = pizzas.update_pizza(
            session, token_info, id, body, if_match=request.headers.get("if-match")
        )
        reply = pizzas.to_dict(pizza)
    return reply, 200, {"ETag": conditional.etag_for(reply)}


def delete_pizza(id, token_info):
    with services().db.session() as session:
        pizzas.delete_pizza(session, token_info, id, if_match=request.headers.get("if-match"))
    return None, 204

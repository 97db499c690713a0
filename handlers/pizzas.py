from pizza_api import pizzas
from pizza_api.context import services


def list_pizzas(name=None, created_by=None, limit=None, offset=0):
    with services().db.session(read_only=True) as session:
        rows = pizzas.list_pizzas(
            session, name=name, created_by=created_by, limit=limit, offset=offset
        )
        return [pizzas.to_dict(pizza) for pizza in rows], 200


def get_pizza(id):
    with services().db.session(read_only=True) as session:
        return pizzas.to_dict(pizzas.get_pizza(session, id)), 200


def create_pizza(body, token_info):
    with services().db.session() as session:
        pizza = pizzas.create_pizza(session, token_info, body)
        reply = pizzas.to_dict(pizza)
    return reply, 201


def update_pizza(id, body, token_info):
    with services().db.session() as session:
        pizza = pizzas.update_pizza(session, token_info, id, body)
        reply = pizzas.to_dict(pizza)
    return reply, 200


def delete_pizza(id, token_info):
    with services().db.session() as session:
        pizzas.delete_pizza(session, token_info, id)
    return None, 204

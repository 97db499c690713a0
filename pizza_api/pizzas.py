"""Pizza rules: reads skip soft-deleted rows, and only the owner or an admin writes."""

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pizza_api import conditional, metrics
from pizza_api.errors import ApiError
from pizza_api.models import Pizza, utcnow

EDITABLE_FIELDS = ("name", "description", "ingredients", "price")


def rfc3339(value: dt.datetime) -> str:
    """Format an aware datetime in UTC as Go's RFC3339Nano does, with `Z`."""
    value = value.astimezone(dt.UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def to_dict(pizza: Pizza) -> dict:
    """Return the pizza in the original's field order."""
    return {
        "id": pizza.id,
        "name": pizza.name,
        "description": pizza.description,
        "ingredients": list(pizza.ingredients or []),
        "price": pizza.price,
        "created_by": pizza.created_by,
        "created_at": rfc3339(pizza.created_at),
        "updated_at": rfc3339(pizza.updated_at),
    }


def not_found(pizza_id: int) -> ApiError:
    return ApiError(404, "Pizza not found", f"No pizza with id {pizza_id}")


def _escape_like(text: str) -> str:
    # "!" is the escape character: a backslash means different things in MySQL literals.
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def list_pizzas(
    session: Session,
    *,
    name: str | None = None,
    created_by: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Pizza]:
    query = select(Pizza).where(Pizza.deleted_at.is_(None)).order_by(Pizza.id)
    if name is not None:
        # lower() on both sides gives the same case-insensitive match on every backend.
        pattern = f"%{_escape_like(name.lower())}%"
        lowered = func.lower(Pizza.name)
        if session.get_bind().dialect.name in ("mysql", "mariadb"):
            # utf8mb4_general_ci ignores accents and gives every character outside the
            # BMP the same weight, so "cafe" would match "Café" and any emoji any other.
            lowered = lowered.collate("utf8mb4_bin")
        query = query.where(lowered.like(pattern, escape="!"))
    if created_by is not None:
        query = query.where(Pizza.created_by == created_by)
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def get_pizza(session: Session, pizza_id: int, *, for_update: bool = False) -> Pizza:
    query = select(Pizza).where(Pizza.id == pizza_id, Pizza.deleted_at.is_(None))
    if for_update:
        query = query.with_for_update()
    pizza = session.scalars(query).first()
    if pizza is None:
        raise not_found(pizza_id)
    return pizza


def create_pizza(session: Session, caller: dict, fields: dict) -> Pizza:
    """Insert a pizza owned by the caller; server-owned keys in `fields` are ignored."""
    values = {key: fields[key] for key in EDITABLE_FIELDS if key in fields}
    now = utcnow()
    pizza = Pizza(
        name=values["name"],
        description=values.get("description", ""),
        ingredients=list(values.get("ingredients", [])),
        price=float(values["price"]),
        created_by=caller["uid"],
        created_at=now,
        updated_at=now,
    )
    session.add(pizza)
    session.flush()
    metrics.pizza_changed(session, "created")
    return pizza


def check_owner(pizza: Pizza, caller: dict, verb: str) -> None:
    if caller["role"] == "admin" or pizza.created_by == caller["uid"]:
        return
    raise ApiError(
        403,
        f"You can only {verb} your own pizzas",
        extra={"pizza_owner": pizza.created_by, "your_id": caller["uid"]},
    )


PRECONDITION_FAILED = "Pizza was modified"


def update_pizza(
    session: Session, caller: dict, pizza_id: int, fields: dict, if_match: str | None = None
) -> Pizza:
    """Set the editable fields present in `fields`, keeping the others.

    With `if_match`, the update happens only if the pizza still has that ETag. The
    row is locked first, so two clients cannot both pass the check.
    """
    pizza = get_pizza(session, pizza_id, for_update=True)
    check_owner(pizza, caller, "update")
    conditional.check_if_match(if_match, conditional.etag_for(to_dict(pizza)), PRECONDITION_FAILED)
    for key in EDITABLE_FIELDS:
        if key in fields:
            value = fields[key]
            if key == "price":
                value = float(value)
            elif key == "ingredients":
                value = list(value)
            setattr(pizza, key, value)
    pizza.updated_at = utcnow()
    session.flush()
    metrics.pizza_changed(session, "updated")
    return pizza


def delete_pizza(
    session: Session, caller: dict, pizza_id: int, if_match: str | None = None
) -> None:
    pizza = get_pizza(session, pizza_id, for_update=True)
    check_owner(pizza, caller, "delete")
    conditional.check_if_match(if_match, conditional.etag_for(to_dict(pizza)), PRECONDITION_FAILED)
    pizza.deleted_at = utcnow()
    session.flush()
    metrics.pizza_changed(session, "deleted")

from connexion import request

from pizza_api import oauth
from pizza_api.context import services


async def issue_token(body=None):
    address = request.scope.get("client") or ("unknown", 0)
    reply = await oauth.grant_token(
        services(),
        body or {},
        request.headers.get("authorization"),
        address[0],
        state=request.scope["pizza_api.state"],
    )
    return reply, 200, oauth.NO_STORE

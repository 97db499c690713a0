from connexion import request

from pizza_api import oauth
from pizza_api.context import services


def issue_token(body=None):
    reply = oauth.grant_token(
        services(),
        body or {},
        request.headers.get("authorization"),
        state=request.scope["pizza_api.state"],
    )
    return reply, 200, oauth.NO_STORE

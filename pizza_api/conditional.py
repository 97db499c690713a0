"""Entity tags for conditional requests (RFC 9110 section 13).

A pizza's ETag is a hash of its JSON body. The tag a client got from a read is the
tag its next `If-Match` must carry, and any change to the pizza changes the tag.
"""

import hashlib
import typing as t

from pizza_api import jsonenc
from pizza_api.errors import ApiError


def etag_for(body: t.Any) -> str:
    """Return a strong entity tag for a JSON body."""
    return '"' + hashlib.sha256(jsonenc.dump_bytes(body)).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(header: str | None, etag: str) -> bool:
    """Return True when If-None-Match matches, so a GET may return 304.

    If-None-Match uses the weak comparison: `W/"x"` matches `"x"`.
    """
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def check_if_match(header: str | None, etag: str, error: str) -> None:
    """Raise 412 unless If-Match is absent, `*`, or lists `etag` (strong comparison)."""
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags or etag in tags:
        return
    raise ApiError(
        412,
        error,
        "If-Match does not match the current ETag; read the resource again and retry",
        extra={"etag": etag},
    )


def read_headers(etag: str, max_age: int) -> dict:
    """Return the caching headers of a public read."""
    cache = f"public, max-age={max_age}" if max_age else "public, no-cache"
    return {"ETag": etag, "Cache-Control": cache}


def read_response(body: t.Any, if_none_match: str | None, max_age: int) -> tuple:
    """Return a handler result for a public read: 200 with ETag, or 304 when unchanged."""
    etag = etag_for(body)
    headers = read_headers(etag, max_age)
    if none_match(if_none_match, etag):
        return None, 304, headers
    return body, 200, headers

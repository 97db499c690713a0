"""Compact JSON in the form Go's encoding/json writes it.

Clients of the original service match response text such as `"price":24.99`, so
bodies have no blank after `:` or `,`, integral floats print without `.0`, and
`<`, `>`, `&`, U+2028 and U+2029 are escaped as Go escapes them.
"""

import json
import math
import typing as t

from connexion.jsonifier import Jsonifier

# These characters can only occur inside JSON strings, so a plain replace is safe.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
# Go writes floats below this magnitude without an exponent.
_GO_PLAIN_FLOAT_LIMIT = 1e21


def _go_numbers(value: t.Any) -> t.Any:
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < _GO_PLAIN_FLOAT_LIMIT:
            return int(value)
        return value
    if isinstance(value, dict):
        return {key: _go_numbers(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_go_numbers(item) for item in value]
    return value


def dumps(value: t.Any) -> str:
    """Serialize `value` as compact, Go-compatible JSON text."""
    text = json.dumps(
        _go_numbers(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return text.translate(_GO_ESCAPES)


def dump_bytes(value: t.Any) -> bytes:
    return dumps(value).encode("utf-8")


class GoJsonifier(Jsonifier):
    """Connexion jsonifier that writes handler results with `dumps`."""

    def dumps(self, data: t.Any, **kwargs: t.Any) -> str:
        return dumps(data)

"""Request validators that tighten Connexion's defaults.

- Integer parameters must be plain decimal digits: Python's int() would also take
  signs, spaces, underscores and non-ASCII digits.
- JSON bodies must be UTF-8 without NaN, Infinity or deep nesting.
- No string anywhere may contain NUL: PostgreSQL rejects it in text, SQLite stores
  it, so it is rejected before the database on every backend.
- No JSON string may contain an unpaired surrogate escape such as "\\ud800": Python
  decodes it, but no database driver can encode it as UTF-8.
Every failure raises `RequestValidationError` naming the part of the request.
"""

import json
import re
import typing as t

from connexion.validators import (
    FormDataValidator,
    JSONRequestBodyValidator,
    ParameterValidator,
)
from jsonschema.exceptions import best_match
from starlette.requests import Request as StarletteRequest

from pizza_api.errors import RequestValidationError

MAX_JSON_DEPTH = 32
# 19 digits cover every positive int64; longer numbers fail the schema's maximum.
_INTEGER_TEXT = re.compile(r"(?:0|[1-9][0-9]{0,18})\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> t.NoReturn:
    raise RequestValidationError("body", f"{name} is not a valid JSON number")


def find_nul_or_depth(value: t.Any) -> str | None:
    """Return a message if `value` nests too deep or has a NUL or a lone surrogate in a string."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"JSON nesting is deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str):
            if "\x00" in item:
                return "Strings must not contain NUL characters"
            if _SURROGATE.search(item):
                return "Strings must not contain unpaired surrogates such as \\ud800"
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return "Keys must not contain NUL characters"
                if _SURROGATE.search(key):
                    return "Keys must not contain unpaired surrogates such as \\ud800"
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


def describe(error) -> str:
    """Format a jsonschema error as `path: message`."""
    path = ".".join(str(part) for part in error.absolute_path)
    return f"{path}: {error.message}" if path else error.message


class StrictParameterValidator(ParameterValidator):
    def validate_request(self, request) -> None:
        raw = StarletteRequest(request.scope)
        raw_values = {
            "path": request.scope.get("path_params", {}),
            "query": raw.query_params,
            "header": raw.headers,
        }
        for location in ("path", "query", "header"):
            for param in self.parameters.get(location, []):
                value = raw_values[location].get(param["name"])
                if value is None:
                    continue
                if "\x00" in value:
                    raise RequestValidationError(
                        location, f"{location} parameter '{param['name']}' contains a NUL character"
                    )
                schema = param.get("schema", {})
                if schema.get("type") == "integer" and not _INTEGER_TEXT.match(value):
                    raise RequestValidationError(
                        location,
                        f"{location} parameter '{param['name']}' must be a decimal integer "
                        f"without sign, spaces or leading zeros, got {value[:40]!r}",
                    )

        for location, check in (
            ("query", self.validate_query_parameter),
            ("path", self.validate_path_parameter),
            ("header", self.validate_header_parameter),
        ):
            for param in self.parameters.get(location, []):
                error = check(param, request)
                if error:
                    raise RequestValidationError(
                        location, f"{location} parameter '{param['name']}': {_first_line(error)}"
                    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0]


class StrictJSONBodyValidator(JSONRequestBodyValidator):
    async def _parse(self, stream, scope) -> t.Any:
        data = b"".join([message async for message in stream])
        if not data.strip():
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestValidationError("body", "The request body is not valid UTF-8") from None
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise RequestValidationError(
                "body", f"JSON nesting is deeper than {MAX_JSON_DEPTH} levels"
            ) from None
        except json.JSONDecodeError as exc:
            raise RequestValidationError(
                "body", f"The request body is not valid JSON: {exc.msg} at position {exc.pos}"
            ) from None
        except ValueError as exc:  # e.g. an integer with more than 4300 digits
            raise RequestValidationError(
                "body", f"The request body has an invalid number: {exc}"
            ) from None
        problem = find_nul_or_depth(value)
        if problem:
            raise RequestValidationError("body", problem)
        return value

    def _validate(self, body: t.Any) -> None:
        if body is None:
            raise RequestValidationError("body", "The request body is empty; send a JSON object")
        error = best_match(self._validator.iter_errors(body))
        if error is not None:
            raise RequestValidationError("body", describe(error))


class StrictFormValidator(FormDataValidator):
    def _validate(self, body: t.Any) -> None:
        for key, value in (body or {}).items():
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\x00" in v for v in values) or "\x00" in key:
                raise RequestValidationError(
                    "form", f"form field '{key[:40]}' contains a NUL character"
                )
        super()._validate(body)


def validator_map() -> dict:
    from connexion.datastructures import MediaTypeDict
    from connexion.validators import VALIDATOR_MAP

    return {
        "parameter": StrictParameterValidator,
        "body": MediaTypeDict(
            {
                "*/*json": StrictJSONBodyValidator,
                "application/x-www-form-urlencoded": StrictFormValidator,
                "multipart/form-data": VALIDATOR_MAP["body"]["multipart/form-data"],
            }
        ),
        "response": VALIDATOR_MAP["response"],
    }

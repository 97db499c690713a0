"""uvicorn's HTTP protocol, with the contract's error shape for unparsable requests.

Requests that fail HTTP/1.1 parsing (RFC 9112), such as raw bytes outside ASCII in
the request line, an unknown method or conflicting Content-Length headers, never
reach the app. uvicorn rejects them itself with a plain-text 400; this subclass
sends the same status with a JSON error body instead.
"""

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from pizza_api.errors import error_body

IMPORT_PATH = "pizza_api.http_protocol:JSONErrorHttpToolsProtocol"


class JSONErrorHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = error_body({"error": "invalid_request", "message": msg}, None)
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

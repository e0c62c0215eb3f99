"""The upload route accepts data files only.

Gradio's `POST /gradio_api/upload` stores any file a client sends (the `file_types` of a `gr.File` is checked in the
browser, not at the route), and returns its server path. This ASGI middleware sits in front of the whole app and
refuses, before anything is stored, an upload whose file is not a JSON file: wrong extension, larger than the
limit, or not UTF-8 text. What passes is still only ever read as bytes and parsed as JSON by the tabs; no uploaded
file is imported, executed or handed to a command.
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

from .state import MAX_UPLOAD_BYTES

ALLOWED_SUFFIXES = (".json",)
# Room for the multipart boundaries and part headers around one file at the limit.
_MULTIPART_OVERHEAD = 64 * 1024


def upload_problem(content_type: str, body: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> str | None:
    """Why this multipart upload is refused, or None when every file in it is a JSON text within the limit.

    Args:
        content_type: The request's Content-Type header (multipart/form-data with its boundary).
        body: The whole request body.
        max_bytes: Largest file accepted.
    """
    if not content_type.lower().startswith("multipart/form-data"):
        return "uploads must be multipart/form-data"
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
                                                  + body)
    if not message.is_multipart():
        return "malformed multipart upload"
    files = 0
    for part in message.iter_parts():
        name = part.get_filename()
        if name is None:
            continue
        files += 1
        if not name.lower().endswith(ALLOWED_SUFFIXES):
            return f"{name}: only JSON files ({', '.join(ALLOWED_SUFFIXES)}) can be uploaded here"
        data = part.get_payload(decode=True) or b""
        if len(data) > max_bytes:
            return f"{name}: {len(data)} bytes, more than the limit of {max_bytes} bytes"
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            return f"{name}: not UTF-8 text (byte {err.start}): JSON files only"
    return None if files else "no file in the upload"


class UploadFilter:
    """ASGI middleware: every `POST .../upload` must carry JSON files only (see `upload_problem`).

    Args:
        app: The ASGI app behind it (Gradio's FastAPI app).
        max_bytes: Largest file accepted.
    """

    def __init__(self, app, max_bytes: int = MAX_UPLOAD_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").endswith("/upload"):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes + _MULTIPART_OVERHEAD:
                await _refuse(send, 413, f"upload larger than the limit of {self.max_bytes} bytes")
                return
            if not message.get("more_body"):
                break
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        problem = upload_problem(headers.get("content-type", ""), bytes(body), max_bytes=self.max_bytes)
        if problem:
            await _refuse(send, 415, problem)
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send, status: int, text: str) -> None:
    data = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})

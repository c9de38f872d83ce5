"""`ferpipe serve`: MLflow's own scoring server for a logged model (the packaged model is served by
the light install's app, `tools.app`, answering alike), with short error replies.

The app is MLflow's (`mlflow.pyfunc.scoring_server.init`, what `mlflow models serve` runs): the
same routes, request formats and answers. MLflow's error replies, though, repeat the request:
a bad JSON body comes back whole inside the message, a refused face comes back as the parsed
input's repr before the reason, and a stack trace follows. A 20 MB request can get a 38 MB
reply. `ShortErrors`, an ASGI middleware around the app, keeps every error reply under
`REPLY_LIMIT` bytes: MLflow's error code and the reason alone. It also answers, as a client
error, what MLflow's app fails on or answers with its internals: a request that is not JSON
(no Content-Type, CSV or Parquet, which cannot carry the faces: 415), a method other than POST
(405), and JSON nested too deep for Python's parser (400).
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

REPLY_LIMIT = 4096  # bytes of an error reply, whatever the request
REASON_CHARACTERS = 500  # JSON escapes a character in at most 6 bytes: 500 of them stay under the limit


def shortened(status: int, body: bytes) -> bytes:
    """An error reply of at most REPLY_LIMIT bytes: `{"error_code": ..., "message": reason}`."""
    try:
        error = json.loads(body)
        code, message = error.get("error_code", ""), str(error.get("message", error.get("detail", "")))
    except (ValueError, AttributeError, RecursionError):
        code, message = "", body.decode("utf-8", "replace")
    message = message.partition("\nInput:")[0]  # MLflow's JSON-decoding error: the body follows
    if message.startswith("Failed to "):  # "Failed to predict data '<the input>'. \nError: <reason>"
        message = message.rpartition("Error: ")[2]
    reason = message.strip()
    if len(reason) > REASON_CHARACTERS:
        reason = reason[: REASON_CHARACTERS - 1] + "…"
    return json.dumps({"error_code": code or ERROR_CODES.get(status, "BAD_REQUEST"), "message": reason}).encode()


ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    415: "BAD_REQUEST",
    500: "INTERNAL_ERROR",
    504: "TEMPORARILY_UNAVAILABLE",
}


class ShortErrors:
    """ASGI middleware: the wrapped app's error replies held back and sent shortened."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == "/invocations" and scope["method"] != "POST":
            return await reply(send, 405, reason="/invocations answers POST requests only", allow=b"POST")
        if scope["path"] == "/invocations":
            kind = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
            if kind.partition(b";")[0].strip().lower() != b"application/json":
                # MLflow's CSV and Parquet forms cannot carry the `faces` tensor: its app would answer
                # them with an internal message ('TensorSpec only supports numpy types').
                said = f"Content-Type {kind.decode('latin-1')[:60]}" if kind else "no Content-Type"
                return await reply(
                    send, 415, reason=f'the request has {said}: send application/json, {{"inputs": {{"faces": [...]}}}}'
                )
        error: dict = {}
        answering = []  # set once a reply that is not an error has begun: too late for another

        async def hold_errors(message):
            if message["type"] == "http.response.start" and message["status"] >= 400:
                error.update(status=message["status"], body=b"")
            elif error and message["type"] == "http.response.body":
                error["body"] += message.get("body", b"")
            else:
                answering.append(True)
                await send(message)

        try:
            await self.app(scope, receive, hold_errors)
        except RecursionError:  # json.loads of a deeply nested body, in MLflow's parsing
            if answering:
                raise
            return await reply(send, 400, reason="the request's JSON is nested too deeply to parse")
        except Exception:
            if answering:
                raise
            log.exception("the scoring app failed on %s", scope["path"])
            return await reply(send, 500, reason="the server failed on this request; its log says why")
        if error:
            await reply(send, error["status"], error["body"])


async def reply(send, status: int, body: bytes = b"", reason: str | None = None, allow: bytes | None = None) -> None:
    content = shortened(status, body if reason is None else json.dumps({"message": reason}).encode())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + ([(b"allow", allow)] if allow else [])}
    )
    await send({"type": "http.response.body", "body": content})


def app_for(model_uri: str | None, labels: str = "fer2013") -> tuple[ShortErrors, dict]:
    """The app serving the model, behind ShortErrors, and what the model was logged with. No model
    named: the packaged one of `labels`, served by the light app (`tools.app`: no MLflow). A
    registered or logged model: MLflow's scoring app, the model loaded from its files
    (`load_logged`: never unpickled)."""
    if model_uri is None:
        from ferpipe import packaged
        from ferpipe.api import Recognizer
        from ferpipe.tools.app import packaged_app

        recognizer = Recognizer(labels=labels)
        description = packaged.packaged(labels).describe()
        return packaged_app(recognizer, description), recognizer.metadata

    from mlflow.pyfunc import scoring_server

    from ferpipe.core.serving import load_logged
    from ferpipe.tools.models import local_folder

    logged = load_logged(local_folder(model_uri))
    return ShortErrors(scoring_server.init(logged)), dict(logged.metadata.metadata or {})


def serve(application, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(application, host=host, port=port)

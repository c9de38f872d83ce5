"""`ferpipe serve` with no model named: the packaged model over HTTP in the light install (no MLflow,
pandas or TensorFlow), answering as MLflow's scoring server answers for a trained model, so a client
written for one works with the other: `GET /ping`, `GET /version`, and `POST /invocations` with
`{"inputs": {"faces": [...]}}` (or `"instances"`), each face its pixels or a compact string
(`ferpipe.core.face_requests`), and `"params": {"calibrated": false}` for the network's own
probabilities; the answer is `{"predictions": [{"emotion": ..., <class>: p, ...}, ...]}`.
Error replies are short, as `ferpipe serve`'s always are (`tools.serve.ShortErrors`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from ferpipe.core.face_requests import FaceRequestError, faces_from
from ferpipe.core.inference import BATCH_SIZE, Served
from ferpipe.tools.models import InVocabulary
from ferpipe.tools.serve import ShortErrors

MAX_REQUEST_BYTES = 64 << 20  # a request larger than this is refused (413) before it is parsed


def packaged_app(model: InVocabulary, description: str) -> ShortErrors:
    """The app around the packaged model (calibrated; `"calibrated": false` asks for its network's own)."""
    from ferpipe import __version__

    app = FastAPI(title="ferpipe", version=__version__, description=description)

    @app.get("/ping", response_class=PlainTextResponse)
    @app.get("/health", response_class=PlainTextResponse)
    def ping() -> str:
        return "\n"

    @app.get("/version", response_class=PlainTextResponse)
    def version() -> str:
        return __version__

    @app.post("/invocations")
    async def invocations(request: Request) -> JSONResponse:
        if int(request.headers.get("content-length") or 0) > MAX_REQUEST_BYTES:
            return error(413, f"the request is over {MAX_REQUEST_BYTES:,} bytes, the most that is read")
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            return error(413, f"the request is {len(body):,} bytes; at most {MAX_REQUEST_BYTES:,} are read")
        try:
            faces, raw = request_faces(body)
        except FaceRequestError as problem:
            return error(400, str(problem))
        probabilities = await run_in_threadpool(answer, model, faces, raw)
        return JSONResponse({"predictions": rows(probabilities, list(model.names))})

    return ShortErrors(app)


def request_faces(body: bytes) -> tuple[np.ndarray, bool]:
    """The faces a JSON request holds, and whether it asks for uncalibrated probabilities."""
    try:
        request = json.loads(body)
    except RecursionError:
        raise FaceRequestError("the request's JSON is nested too deeply to parse") from None
    except ValueError as problem:
        raise FaceRequestError(f"the request is not JSON: {problem}") from None
    faces = request.get("inputs", request.get("instances")) if isinstance(request, dict) else None
    if faces is None:
        raise FaceRequestError('expected {"inputs": {"faces": [...]}} (or "instances"): one entry per face')
    params = request.get("params") or {}
    if not isinstance(params, dict) or not isinstance(params.get("calibrated", True), bool):
        raise FaceRequestError('params: expected {"calibrated": true or false}')
    return faces_from(faces), params.get("calibrated", True) is False


def answer(model: InVocabulary, faces: np.ndarray, raw: bool) -> np.ndarray:
    """The probabilities of each face, `BATCH_SIZE` at a time, in the vocabulary's order; `raw`:
    the network's own, without the temperature."""
    packaged: Served = model.model
    network = Served(packaged.network, packaged.calibration, raw)
    parts = [
        network.predict_on_batch(faces[i : i + BATCH_SIZE])[:, model.order] for i in range(0, len(faces), BATCH_SIZE)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(model.names)))


def rows(probabilities: np.ndarray, label_names: list[str]) -> list[dict[str, Any]]:
    return [
        {"emotion": label_names[int(np.argmax(p))], **{name: float(v) for name, v in zip(label_names, p, strict=True)}}
        for p in probabilities
    ]


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": "BAD_REQUEST", "message": message}, status_code=status)

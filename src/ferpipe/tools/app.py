"""`ferpipe serve` with no model named: the packaged model over HTTP in the light install (no MLflow,
pandas or TensorFlow).

- `GET /`: a page to try it on, working offline (`page.html`: no script, style or font from elsewhere).
- `POST /analyze`: a photo (raw bytes, or a multipart form's `image` field) in, one entry per face
  out: its box, the detector's score, the emotion, the calibrated probabilities, and with
  `?heatmap=true` its occlusion heatmap (a PNG data URI of the 48x48 crop with the map over it).
- `POST /invocations`, `GET /ping`, `GET /version`: as MLflow's scoring server answers for a trained
  model, so a client written for one works with the other: `{"inputs": {"faces": [...]}}` (or
  `"instances"`), each face its pixels or a compact string (`ferpipe.core.face_requests`), and
  `"params": {"calibrated": false}` for the network's own probabilities; the answer is
  `{"predictions": [{"emotion": ..., <class>: p, ...}, ...]}`.

`/openapi.json` describes it (FastAPI's; its `/docs` pages are off: they load scripts from a CDN).
Error replies are short, as `ferpipe serve`'s always are (`tools.serve.ShortErrors`).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from PIL import Image

from ferpipe.api import Recognizer
from ferpipe.core.face_requests import FaceRequestError, faces_from
from ferpipe.core.images import ImageTooLarge
from ferpipe.core.inference import BATCH_SIZE, Served
from ferpipe.tools.models import InVocabulary
from ferpipe.tools.serve import ShortErrors

MAX_REQUEST_BYTES = 64 << 20  # a request larger than this is refused (413) before it is parsed
MAX_PHOTO_BYTES = 20 << 20  # a photo sent to /analyze: a phone's largest, with room to spare
PAGE = Path(__file__).resolve().parent / "page.html"


def packaged_app(recognizer: Recognizer, description: str) -> ShortErrors:
    """The app around a packaged model, loaded once as a `Recognizer` (its detector finds the faces
    of /analyze's photos); answers calibrated, unless `"calibrated": false` asks for its network's own."""
    from ferpipe import __version__

    model = recognizer.model
    app = FastAPI(title="ferpipe", version=__version__, description=description, docs_url=None, redoc_url=None)
    page = PAGE.read_text()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.post("/analyze")
    async def analyze(request: Request, heatmap: bool = False) -> JSONResponse:
        """Every face of a photo: box, detector score, emotion, calibrated probabilities, heatmap on request."""
        too_large = error(
            413, f"the photo is over {MAX_PHOTO_BYTES >> 20} MB: at most {MAX_PHOTO_BYTES >> 20} MB is read"
        )
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            if int(request.headers.get("content-length") or 0) > MAX_PHOTO_BYTES + 4096:
                await drained(request)
                return too_large
            form = await request.form()
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                return error(400, "the form has no file in a field named image")
            data = await upload.read()
        else:
            body = await bounded_body(request, MAX_PHOTO_BYTES)
            if body is None:
                return too_large
            data = body
        if not data:
            return error(400, "the request holds no photo: send its bytes, or a form with an image field")
        if len(data) > MAX_PHOTO_BYTES:
            return too_large
        try:
            return JSONResponse(await run_in_threadpool(analyzed, recognizer, data, heatmap))
        except ValueError as problem:  # not an image, unreadable, too many pixels: one line saying which
            return error(413 if isinstance(problem, ImageTooLarge) else 400, str(problem))

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


async def bounded_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None when it holds more than `limit` bytes: the rest is read and dropped
    (up to MAX_REQUEST_BYTES), so the client hears the refusal instead of a reset connection."""
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await drained(request, size)
            return None
        parts.append(chunk)
    return b"".join(parts)


async def drained(request: Request, size: int = 0) -> None:
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return


def analyzed(recognizer: Recognizer, data: bytes, with_heatmaps: bool) -> dict[str, Any]:
    """A photo's faces as /analyze answers them."""
    from ferpipe.core.heatmaps import occlusion, overlay
    from ferpipe.core.images import open_image

    image = open_image(io.BytesIO(data))
    faces = []
    for expression, crop in recognizer.faces(image):
        entry: dict[str, Any] = {
            "box": list(expression.box) if expression.box else None,
            "score": expression.score,
            "emotion": expression.emotion,
            "probabilities": expression.probabilities,
        }
        if with_heatmaps:
            label = recognizer.label_names.index(expression.emotion)
            drawn = Image.fromarray(overlay(crop, occlusion(recognizer.model.predict_on_batch, crop, label)))
            buffer = io.BytesIO()
            drawn.resize((96, 96), Image.Resampling.BILINEAR).save(buffer, format="PNG")
            entry["heatmap"] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        faces.append(entry)
    return {"width": image.width, "height": image.height, "faces": faces}


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

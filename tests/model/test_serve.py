"""`ferpipe serve`, a real server process: MLflow's scoring app answering as `mlflow models serve`
does, and every error reply short, whatever the request."""

import base64
import http.client
import io
import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pytest
from PIL import Image

from ferpipe.core import tracking
from ferpipe.core.schema import EMOTIONS
from ferpipe.models import build_model
from ferpipe.tools.serve import REPLY_LIMIT
from tests.conftest import free_ports, random_faces, wait_until_up

pytestmark = pytest.mark.slow  # a TensorFlow model, served


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    network = build_model("tiny_cnn", (48, 48, 1), 7)
    faces = random_faces(4).reshape(-1, 48, 48, 1)
    # The test's own store, and the environment as it was afterwards: MLflow's set_tracking_uri sets
    # MLFLOW_TRACKING_URI, which the later tests' subprocesses would inherit.
    before = {name: os.environ.get(name) for name in ("DVC_ROOT", "MLFLOW_TRACKING_URI")}
    os.environ["DVC_ROOT"] = str(folder)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        with mlflow.start_run(experiment_id=tracking.configure("serve-tests")):
            uri = tracking.log_model(network, faces[:2], list(EMOTIONS), "synthetic")
        store = mlflow.get_tracking_uri()
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    expected = network.predict(faces, verbose=0)
    (port,) = free_ports(1)
    log = folder / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "ferpipe", "serve", uri, "--port", str(port)],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_TRACKING_URI": store},
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, log)
        yield port, faces, expected
    finally:
        process.terminate()
        process.wait(timeout=30)


def post(port: int, body: bytes, content_type: str | None = "application/json") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": content_type} if content_type else {}
    connection.request("POST", "/invocations", body=body, headers=headers)
    answer = connection.getresponse()
    return answer.status, answer.read()


def faces_request(faces) -> bytes:
    return json.dumps({"inputs": {"faces": faces}}).encode()


def test_answers_as_the_network_does(server):
    port, faces, expected = server
    status, body = post(port, faces_request(faces.tolist()))
    assert status == 200, body[:500]
    rows = json.loads(body)["predictions"]
    np.testing.assert_allclose([[row[name] for name in EMOTIONS] for row in rows], expected, rtol=1e-5, atol=1e-6)


def one_pixel(faces, value):
    face = faces[:1].tolist()
    face[0][3][7][0] = value
    return faces_request(face)


def big_image_uri(side: int) -> str:
    image = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side), dtype=np.uint8)).save(image, "PNG")
    return "data:image/png;base64," + base64.b64encode(image.getvalue()).decode()


BAD_REQUESTS = {  # what is sent, as (body, content type); the status; words of the reason
    "20 MB that are not JSON": (lambda faces: (b'{"inputs": ' + b"x" * 20_000_000, "application/json"), 400, "JSON"),
    "a 2000x2000 image as a face": (
        lambda faces: (faces_request([big_image_uri(2000)]), "application/json"),
        400,
        "the image is 2000x2000",
    ),
    "a fractional pixel": (
        lambda faces: (one_pixel(faces, 12.5), "application/json"),
        400,
        "face 0, row 3, column 7 is 12.5",
    ),
    "JSON true as a pixel": (
        lambda faces: (one_pixel(faces, True), "application/json"),
        400,
        "face 0, row 3, column 7 is True",
    ),
    "JSON nested 100,000 deep": (
        lambda faces: (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        400,
        "nested too deeply",
    ),
    "no Content-Type": (
        lambda faces: (faces_request(faces.tolist()), None),
        415,
        "no Content-Type: send application/json",
    ),
    "a 10 KB Content-Type": (lambda faces: (b"{}", "text/" + "x" * 10_000), 415, "send application/json"),
    "garbage CSV": (lambda faces: (b"garbage,,\n\x00 nonsense", "text/csv"), 415, "Content-Type text/csv: send"),
    "Parquet it cannot take": (lambda faces: (b"PAR1", "application/x-parquet"), 415, "send application/json"),
    "30,000 faces that are not base64": (
        lambda faces: (faces_request(["not base64!"] * 30_000), "application/json"),
        400,
        "face 0: not base64",
    ),
}


def test_invocations_answers_post_only(server):
    port, _, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/invocations")
    answer = connection.getresponse()
    assert answer.status == 405 and answer.getheader("Allow") == "POST"
    assert "POST requests only" in json.loads(answer.read())["message"]


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_gets_a_short_client_error_naming_the_reason(server, case):
    port, faces, _ = server
    make, status, reason = BAD_REQUESTS[case]
    body, content_type = make(faces)
    answered, reply = post(port, body, content_type)
    assert answered == status, reply[:500]
    assert len(reply) < REPLY_LIMIT
    error = json.loads(reply)
    assert reason in error["message"] and "stack_trace" not in error, error

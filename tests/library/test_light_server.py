"""`ferpipe serve` with no model: the packaged model over HTTP with the light install alone (a real
server process in which every pipeline package is made unimportable), answering as the API does."""

import json
import subprocess
import sys
import urllib.request

import pytest

from ferpipe import Recognizer
from tests.conftest import REPO_ROOT, free_ports, random_faces, wait_until_up
from tests.conftest import post_json as post

pytestmark = pytest.mark.slow  # starts a server

WITHOUT_THE_PIPELINE = (
    "import sys; sys.modules.update(dict.fromkeys(['tensorflow', 'keras', 'mlflow', 'dvc', 'pandas', 'pyarrow', "
    "'sklearn', 'hydra', 'omegaconf', 'matplotlib'])); sys.argv[0] = 'ferpipe'; from ferpipe.cli import run; run()"
)


@pytest.fixture(scope="module", params=["fer2013", "ferplus"])
def server(request, tmp_path_factory):
    (port,) = free_ports(1)
    log = tmp_path_factory.mktemp("light-server") / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-c", WITHOUT_THE_PIPELINE, "serve", "--port", str(port), "--labels", request.param],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, log, seconds=60)
        yield f"http://127.0.0.1:{port}", request.param
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_packaged_model_answers_as_the_api_does(server):
    url, labels = server
    crops = random_faces(3, seed=21).reshape(3, 48, 48)
    status, answer = post(f"{url}/invocations", json.dumps({"inputs": {"faces": crops[..., None].tolist()}}).encode())
    assert status == 200, answer
    expected = Recognizer(labels=labels).predict_crops(crops)
    for row, face in zip(answer["predictions"], expected, strict=True):
        assert row.pop("emotion") == face.emotion
        assert list(row) == list(face.probabilities)  # one vocabulary, one order
        assert list(row.values()) == pytest.approx(list(face.probabilities.values()), abs=1e-6)


@pytest.mark.parametrize(
    "body, status, said",
    [
        (b"{not json", 400, "the request is not JSON"),
        (b'{"faces": []}', 400, 'expected {"inputs": {"faces": [...]}}'),
        (json.dumps({"inputs": {"faces": [[[[300]] * 48] * 48]}}).encode(), 400, "pixels must be integers 0..255"),
        (json.dumps({"inputs": {"faces": ["bm90IDIzMDQ="]}}).encode(), 400, "face 0: 8 bytes of pixels, expected 2304"),
    ],
)
def test_a_bad_request_is_a_short_client_error(server, body, status, said):
    url, _ = server
    answered, error = post(f"{url}/invocations", body)
    assert answered == status and said in error["message"], error
    assert len(json.dumps(error)) < 4096


def test_the_page_and_the_photo_api_answer_without_the_pipeline(server):
    from tests.conftest import grace_hopper

    url, labels = server
    with urllib.request.urlopen(f"{url}/", timeout=60) as answer:
        page = answer.read().decode()
    assert answer.status == 200 and "<title>ferpipe" in page and "https://" not in page and "http://" not in page
    request = urllib.request.Request(
        f"{url}/analyze?heatmap=true", data=grace_hopper().read_bytes(), headers={"Content-Type": "image/jpeg"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        (face,) = json.loads(answer.read())["faces"]
    (expected,) = Recognizer(labels=labels).predict(grace_hopper())
    assert face["emotion"] == expected.emotion and face["heatmap"].startswith("data:image/png;base64,")


def test_the_manual_shows_what_the_packaged_model_answers_to_the_example_requests(server):
    url, labels = server
    if labels != "fer2013":
        pytest.skip("the manual's example is the FER2013 model's")
    manual = (REPO_ROOT / "docs/prediction.md").read_text()
    (shown,) = [line[2:] for line in manual.splitlines() if line.startswith('# {"predictions"')]
    for example in ("request.json", "request_compact.json"):  # the same face in both forms
        status, answer = post(f"{url}/invocations", (REPO_ROOT / "examples" / example).read_bytes())
        assert status == 200, answer
        (row,) = answer["predictions"]
        rounded = {key: value if key == "emotion" else round(value, 2) for key, value in row.items()}
        assert json.loads(shown) == {"predictions": [rounded]}, f"docs/prediction.md shows {shown}"

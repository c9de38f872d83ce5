"""The page `ferpipe serve` shows at /, driven in a real browser (Playwright with the system's headless
Chromium) as a person uses it, at a phone's width: a photo chosen, its face boxed with its emotion,
probabilities and heatmap; errors said in words; the keyboard reaching the controls; nothing
fetched from another host. And /analyze, the photo API behind it."""

import json
import shutil
import subprocess
import sys

import pytest

from ferpipe import Recognizer
from tests.conftest import free_ports, grace_hopper, wait_until_up
from tests.conftest import post_json as post

pytestmark = pytest.mark.slow  # a server and a browser


def chromium() -> str:
    for name in ("chromium-headless-shell", "chromium"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium (.ci/run installs Debian's chromium-headless-shell)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    (port,) = free_ports(1)
    log = tmp_path_factory.mktemp("page") / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "ferpipe", "serve", "--port", str(port)], stdout=open(log, "w"), stderr=subprocess.STDOUT
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, log, seconds=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone's width
        elsewhere: list[str] = []

        def only_this_server(route):
            if route.request.url.startswith(server):
                return route.continue_()
            elsewhere.append(route.request.url)
            return route.abort()

        page.route("**/*", only_this_server)
        page.goto(server + "/")
        yield page
        assert elsewhere == [], f"the page asked other hosts for {elsewhere}"
        browser.close()


def test_a_chosen_photo_shows_its_face_emotion_probabilities_and_heatmap(page, tmp_path):
    page.set_input_files("#files", str(grace_hopper()))
    page.wait_for_selector(".face h3.emotion", timeout=30_000)
    (expected,) = Recognizer().predict(grace_hopper())
    heading = page.inner_text(".face h3.emotion")
    assert heading.startswith(f"1. {expected.emotion}") and f"(face {expected.score:.2f})" in heading
    shown = {
        bar.get_attribute("aria-label"): int(bar.get_attribute("aria-valuenow"))
        for bar in page.query_selector_all(".face .bar")
    }
    assert shown == {name: round(p * 100) for name, p in expected.probabilities.items()}
    assert page.evaluate("document.querySelector('.face img').naturalWidth") == 96  # the heatmap arrived
    assert "1 face found" in page.inner_text("#message")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)


def test_errors_are_said_in_words_on_the_page(page, tmp_path):
    (tmp_path / "notes.png").write_bytes(b"not a picture at all")
    page.set_input_files("#files", str(tmp_path / "notes.png"))
    page.wait_for_selector("#message.error", timeout=30_000)
    assert page.inner_text("#message") == "notes.png: not an image: unrecognised format"
    from PIL import Image

    Image.new("RGB", (320, 240), (128, 128, 128)).save(tmp_path / "wall.png")
    page.set_input_files("#files", str(tmp_path / "wall.png"))
    page.wait_for_function("document.getElementById('message').textContent.includes('wall.png: no face')")


def test_the_keyboard_reaches_the_photo_picker_and_the_heatmap_switch(page):
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "files"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "heatmaps"


def test_analyze_answers_each_face_and_each_kind_of_bad_photo_in_one_short_line(server, tmp_path):
    photo = grace_hopper().read_bytes()
    status, answer = post(server + "/analyze", photo, "image/jpeg")
    (face,) = answer["faces"]
    (expected,) = Recognizer().predict(grace_hopper())
    assert status == 200 and tuple(face["box"]) == expected.box and face["emotion"] == expected.emotion
    assert face["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6) and "heatmap" not in face
    boundary = "ferpipe-test"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="g.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, answer = post(server + "/analyze?heatmap=true", form, f"multipart/form-data; boundary={boundary}")
    assert status == 200 and answer["faces"][0]["heatmap"].startswith("data:image/png;base64,")
    from PIL import Image

    Image.new("L", (9000, 9000)).save(tmp_path / "huge.png")  # 81 megapixels, a small file
    for data, status, said in [
        (b"", 400, "holds no photo"),
        (b"not an image", 400, "not an image: unrecognised format"),
        (photo[: len(photo) // 3], 400, "unreadable"),
        ((tmp_path / "huge.png").read_bytes(), 413, "too large: more than 40,000,000 pixels"),
        (b"x" * (21 << 20), 413, "at most 20 MB"),
    ]:
        answered, error = post(server + "/analyze", data, "image/png")
        assert answered == status and said in error["message"], error
        assert len(json.dumps(error)) < 4096 and "\n" not in error["message"]

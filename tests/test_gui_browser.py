"""The web GUI end to end: ``siayn gui`` as a subprocess, driven in a real headless Chromium.

Needs Gradio, Playwright for Python and a Chromium binary (Debian's ``chromium`` package;
Playwright's own browser downloads are not used). ``.ci/run`` installs all three; elsewhere
the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("gradio", reason="the GUI needs Gradio: pip install 'siayn[gui]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python: pip install playwright")

CHROMIUM = os.environ.get("SIAYN_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"needs a Chromium binary (apt-get install chromium), none at {CHROMIUM}", allow_module_level=True)

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STARTUP_SECONDS = 90
RUN_SECONDS = 90 * 1000  # Playwright counts milliseconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def picture(path: Path, size: tuple[int, int], seed: int) -> Path:
    image = Image.new("RGB", size)
    image.putdata([((x * 9 + seed) % 256, (y * 7 + 3 * seed) % 256, (x * y + seed) % 256)
                   for y in range(size[1]) for x in range(size[0])])
    image.save(path)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``siayn gui`` on a free localhost port; yields its address and output folder."""
    folder = tmp_path_factory.mktemp("gui-server")
    port = free_port()
    env = {**os.environ, "GRADIO_TEMP_DIR": str(folder / "gradio-cache"), "NO_PROXY": "127.0.0.1,localhost"}
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "siayn_core", "gui", "--port", str(port), "--output", str(folder / "out"),
         "--device", "cpu"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"siayn gui exited with {process.returncode}:\n{(folder / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"siayn gui did not answer on {url}:\n{(folder / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url, folder / "out"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def fill(page, elem_id: str, value: str) -> None:
    """Type into the text or number field of the widget ``elem_id``."""
    page.locator(f"#{elem_id} textarea, #{elem_id} input").first.fill(value)


def test_run_watch_and_stop_in_a_real_browser(server, page, tmp_path: Path) -> None:
    url, output = server
    expect = sync_api.expect
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url)
    page.wait_for_selector("#siayn-run")

    page.set_input_files("#siayn-content input[type=file]", str(picture(tmp_path / "photo.png", (40, 32), 1)))
    page.set_input_files("#siayn-style-0 input[type=file]", str(picture(tmp_path / "swirls.png", (36, 36), 2)))
    expect(page.locator("#siayn-style-0 img")).to_be_visible()
    fill(page, "siayn-backbone-vgg16-weights", "none")
    fill(page, "siayn-option-num_steps", "6")
    fill(page, "siayn-option-seed", "3")
    page.get_by_text("Postprocessing", exact=True).click()
    page.locator("#siayn-postprocess label", has_text="preserve-colors").click()

    page.click("#siayn-run")
    status = page.locator("#siayn-status")
    expect(status).to_contain_text("Finished 6 steps", timeout=RUN_SECONDS)
    expect(page.locator("#siayn-result img")).to_be_visible()
    expect(page.locator("#siayn-files")).to_contain_text("run.json")
    expect(page.locator("#siayn-files")).to_contain_text("preserve-colors")
    first = json.loads((output / "gui" / "run.json").read_text())
    assert first["steps"] == 6 and first["seed"] == 3 and not first["stopped"]
    assert first["config"]["backbone_options"] == {"weights": "none"}
    assert first["config"]["postprocess"] == [{"name": "preserve-colors"}]
    assert (output / "gui" / "photo!-!swirls.png").is_file()
    assert (output / "gui" / "photo!-!swirls.preserve-colors.png").is_file()
    page.locator("#siayn-postprocess label", has_text="preserve-colors").click()  # untick

    # The same styles and options on a clip: frame by frame, then its mp4.
    frames = [picture(tmp_path / f"frame{index}.png", (40, 32), 1 + index) for index in range(3)]
    first_frame, *others = [Image.open(frame) for frame in frames]
    first_frame.save(tmp_path / "pan.gif", save_all=True, append_images=others, duration=100, loop=0)
    page.get_by_text("Video: stylize a clip instead", exact=True).click()
    page.set_input_files("#siayn-video-clip input[type=file]", str(tmp_path / "pan.gif"))
    expect(page.locator("#siayn-video-clip")).to_contain_text("pan.gif")
    fill(page, "siayn-video-later_steps", "2")
    page.click("#siayn-video-run")
    expect(status).to_contain_text("Finished 3 frames", timeout=RUN_SECONDS)
    expect(page.locator("#siayn-files")).to_contain_text("pan-stylized")
    record = json.loads((output / "gui-video" / "pan-stylized.frames" / "run.json").read_text())
    assert record["frame_count"] == 3 and record["video"]["later_steps"] == 2

    # A longer run: watch it go, then stop it and keep its image.
    fill(page, "siayn-option-num_steps", "2000")
    page.locator("#siayn-option-num_steps input").first.blur()
    page.click("#siayn-run")
    expect(status).to_contain_text("/ 2000", timeout=RUN_SECONDS)
    expect(page.locator("#siayn-stop")).to_be_enabled()
    page.click("#siayn-stop")
    expect(status).to_contain_text("Stopped at step", timeout=RUN_SECONDS)
    expect(page.locator("#siayn-run")).to_be_enabled()
    second = json.loads((output / "gui-2" / "run.json").read_text())
    assert second["stopped"] is True and 0 < second["steps"] < 2000
    assert second["config"]["postprocess"] == []
    assert Image.open(output / "gui-2" / "photo!-!swirls.png").size == (40, 32)

    # A bad value is one clear message on the page.
    fill(page, "siayn-option-style_layers", "relu1_1, nowhere")
    page.locator("#siayn-option-style_layers textarea, #siayn-option-style_layers input").first.blur()
    page.click("#siayn-run")
    expect(status).to_contain_text("Error", timeout=RUN_SECONDS)
    expect(status).to_contain_text("nowhere")
    expect(page.locator("#siayn-run")).to_be_enabled()

    foreign = [address for address in requested if not address.startswith((url, "data:", "blob:"))]
    assert foreign == [], f"the page fetched from other hosts: {foreign}"

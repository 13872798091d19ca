"""End to end in a real browser: notebook 08 served by Voila on 127.0.0.1, opened in
headless Chromium (Debian's ``chromium``) driven by Playwright, a generated clip
uploaded through the page's file input, "Predict action" clicked, and the predicted
label read from the page.

Needs: ``apt-get install -y chromium`` and ``pip install voila playwright`` (Playwright
only drives the system Chromium: ``playwright install`` is never run). Skips with the
reason when any of them is missing. Marked ``browser`` (deselect with ``-m "not browser"``).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from smoke_model import build_smoke_model

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "08_upload_widget.ipynb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VOILA = Path(sys.executable).with_name("voila")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def _missing() -> str | None:
    if CHROMIUM is None:
        return "chromium is not installed (apt-get install -y chromium)"
    if not VOILA.exists() and shutil.which("voila") is None:
        return "voila is not installed (pip install voila)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; never `playwright install`)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:  # any HTTP answer means the server is up
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    model = build_smoke_model(tmp_path_factory.getbasetemp() / "smoke_model")
    port = _free_port()
    env = {**os.environ, "SMOKE": "0", "HELPERS_MODELS_DIR": str(model.checkpoint.parent),
           "HELPERS_RUNS_DIR": str(tmp_path_factory.mktemp("runs")), "OMP_NUM_THREADS": "1",
           "JUPYTER_PLATFORM_DIRS": "1"}
    exe = str(VOILA) if VOILA.exists() else shutil.which("voila")
    log = open(tmp_path_factory.mktemp("voila") / "voila.log", "w")
    proc = subprocess.Popen([exe, str(NOTEBOOK), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                             "--ServerApp.open_browser=False"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/voila/static/", proc, 60)
        yield f"http://127.0.0.1:{port}/", model
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_upload_and_predict_in_chromium(voila_url, tmp_path):
    from playwright.sync_api import sync_playwright

    from helpers.synth.encode import write_video

    url, model = voila_url
    clip = write_video(tmp_path / "my_upload.mp4", model.best_frames, model.fps)
    with sync_playwright() as pw:
        # an empty, throw-away profile: Playwright passes it as --user-data-dir
        browser = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                        headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(url, timeout=60_000)
            # Voila renders once every cell ran (model loading included). ipywidgets 8's
            # FileUpload keeps its <input type=file> out of the DOM and clicks it from the
            # button, so the upload goes through the browser's file chooser.
            upload = page.get_by_role("button", name="Upload video")
            upload.wait_for(state="visible", timeout=120_000)
            with page.expect_file_chooser(timeout=30_000) as chooser:
                upload.click()
            chooser.value.set_files(str(clip))
            page.wait_for_selector(".video-metadata", timeout=60_000)
            assert "my_upload.mp4" in page.inner_text(".video-metadata")
            button = page.get_by_role("button", name="Predict action")
            page.wait_for_function("() => { const b = [...document.querySelectorAll('button')]"
                                   ".find(b => b.textContent.includes('Predict action')); return b && !b.disabled; }",
                                   timeout=30_000)
            button.click()
            label = page.wait_for_selector(".predicted-label", timeout=60_000)
            assert label.inner_text().strip() == model.best_class
            assert "Latency:" in page.inner_text("body")
        finally:
            browser.close()

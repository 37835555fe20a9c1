"""`sdce viz` in a real browser: Debian's headless Chromium driven by Playwright against a live server.

The tests run in file order against one server: step, overlay and screenshot, change the regime, play and pause,
type a bad value, then Ctrl-C. They fail (never skip) when Chromium or Playwright is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
SCREENSHOT = Path(__file__).resolve().parents[1] / "runs" / "viz" / "page.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    executable = shutil.which("sdce")
    assert executable, "the `sdce` command is not installed: pip install -e '.[test]'"
    port = _free_port()
    proc = subprocess.Popen([executable, "viz", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    first_line = proc.stdout.readline()
    assert url in first_line, first_line
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "sdce viz did not answer within 120 s"
        time.sleep(0.5)
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def page(server):
    assert CHROMIUM.exists(), "Chromium is missing: apt-get install chromium (.ci/run does this)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        tab = browser.new_page(viewport={"width": 1400, "height": 1700})
        tab.set_default_timeout(60_000)
        tab.goto(server[1])
        tab.locator(".sdce-status").wait_for(timeout=120_000)
        yield tab
        browser.close()


def _status(page) -> str:
    return page.locator(".sdce-status").inner_text()


def _value(page, label: str) -> float:
    """A value of the ABM column of the page's readout table."""
    row = page.locator("tr").filter(has=page.get_by_role("cell", name=label, exact=True))
    return float(row.locator("td").nth(1).inner_text())


def _figure_sources(page) -> list[str]:
    return [img.get_attribute("src") for img in page.locator(".vue-grid-item img").all()]


def _step(page, to: int) -> None:
    page.get_by_role("button", name="Step").click()
    page.get_by_text(f"Step: {to}", exact=True).wait_for()


def test_step_advances_the_market_and_its_plots(page):
    rho, figures = _value(page, "ρ"), _figure_sources(page)
    assert "Generation 0 of 10" in _status(page) and len(figures) == 5
    for generation in (1, 2, 3):
        _step(page, generation)
    page.get_by_text("Generation 3 of 10").wait_for()
    assert _value(page, "ρ") != rho
    changed = [a != b for a, b in zip(figures, _figure_sources(page))]
    assert all(changed), changed


def test_meanfield_overlay_and_screenshot(page):
    before = _figure_sources(page)[0]
    page.get_by_text("overlay the mean-field limit (dashed)").click()
    page.wait_for_function("src => document.querySelector('.vue-grid-item img').src !== src", arg=before,
                           timeout=120_000)
    page.get_by_role("columnheader", name="mean-field").wait_for()
    for generation in (4, 5, 6):
        _step(page, generation)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 50_000


def test_regime_change_takes_effect_on_reset(page):
    page.locator(".v-select", has_text="regime").click()
    page.get_by_role("option", name="statutory").click()
    page.get_by_role("button", name="Reset").click()
    page.get_by_text("Step: 0", exact=True).wait_for()
    page.get_by_text("regime statutory").wait_for()
    _step(page, 1)
    assert _value(page, "mean price") > 0  # a statutory royalty is paid; open scraping pays nothing


def test_play_runs_generations_until_paused(page):
    started = time.monotonic()
    page.get_by_role("button", name="▶").click()
    page.get_by_text("Step: 3", exact=True).wait_for()
    three_steps = (time.monotonic() - started) * 1000  # ms for three generations while playing
    page.get_by_role("button", name="❚❚").click()
    page.get_by_role("button", name="▶").wait_for()
    counter = page.get_by_text(re.compile(r"^Step: \d+$"))
    paused_at = _step_count(counter)
    page.wait_for_timeout(three_steps + 500)  # Mesa's play loop finishes the step it is in when paused
    settled = _step_count(counter)
    assert settled - paused_at <= 1
    page.wait_for_timeout(three_steps + 500)  # then nothing moves
    assert _step_count(counter) == settled


def _step_count(counter) -> int:
    return int(counter.inner_text().removeprefix("Step: "))


def test_a_bad_number_shows_a_message_and_the_server_lives_on(page):
    """Sizes are sliders bounded by the configuration; the seed is typed, and a bad one is named on the page."""
    seed = page.get_by_label("seed")
    seed.fill("-5")
    seed.press("Enter")
    page.get_by_role("button", name="Reset").click()
    error = page.locator(".sdce-error")
    error.wait_for()
    assert "seed" in error.inner_text() and "-5" in error.inner_text()
    seed.fill("5")
    seed.press("Enter")
    page.get_by_role("button", name="Reset").click()
    page.get_by_text("seed 5.").wait_for()
    _step(page, 1)


def test_ctrl_c_stops_the_server(server, page):
    proc, _ = server
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "sdce viz: stopped" in output

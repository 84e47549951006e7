"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, installed by ``make chromium``) driven by Selenium against a real ``perpdex
run --dashboard`` subprocess on the emulator (a funding-arb pair and a grid), then against
``perpdex serve`` on the same port.

The page loads; a position appears and its funding figure changes without a reload; the heatmap
has one cell per (symbol, exchange) served by the API; a screenshot is saved (to
docs/img/dashboard.png with ``PERPDEX_SCREENSHOT=1``); the run stopping shows a lost connection,
and the page reconnects by itself to the server that comes back; the browser console has no
error."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PERPDEX = [sys.executable, "-m", "perpdex.cli.main"]
CHROME_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--window-size=1440,1000"]
WAIT_S = 60  # bounds so that something that never happens fails the test (not timing assertions)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def both_config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "both-sim.yml").read_text())
    data["storage"]["url"] = f"sqlite+aiosqlite:///{tmp_path / 'dash.db'}"
    data["sim"]["funding_time_scale"] = 3600  # a 1 h interval pays every second: the funding figure moves
    arb = data["strategies"][0]
    arb.update(scan_interval_s=0.5, exit={"max_age_s": 600, "min_spread_apr": 0.05})  # stays open for the test
    p = tmp_path / "dash.yml"
    p.write_text(yaml.safe_dump(data))
    return p


def wait_http(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate(timeout=5)
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


@pytest.fixture
def chrome(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver_path, "chromium / chromium-driver missing: run `make chromium`"
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never downloads anything
    opts = webdriver.ChromeOptions()
    for arg in CHROME_ARGS + [f"--user-data-dir={tmp_path / 'chrome-profile'}"]:
        opts.add_argument(arg)
    opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def js(driver, selector: str, fn: str) -> list:
    """``fn`` (a JavaScript arrow function) over every element matching ``selector``, in one script."""
    return driver.execute_script(f"return [...document.querySelectorAll({selector!r})].map({fn})")


def wait_for(driver, what, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(what, message)


def test_dashboard_follows_a_run_live_in_chromium(tmp_path, request):
    cfg = both_config(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run = subprocess.Popen([*PERPDEX, "run", "--config", str(cfg), "--dashboard", "--port", str(port)],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    serve = None
    try:
        driver = request.getfixturevalue("chrome")  # Chromium starts while the run connects
        wait_http(f"{base}/api/live/status", run)
        driver.get(base + "/")
        driver.execute_script("window.__sameDocument = true")  # gone if the page reloads

        # a position appears; its funding figure changes without a reload
        # (the page re-renders every second: everything is read in one script, never through kept elements)
        funding = "return document.querySelector('#positions tr[data-position-id] td[data-field=funding]')?.textContent"
        first = wait_for(driver, lambda d: d.execute_script(funding), "no position appeared")
        wait_for(driver, lambda d: d.execute_script(funding) != first, f"the funding figure stayed {first}")
        assert driver.execute_script("return window.__sameDocument === true")
        assert js(driver, "#conn", "el => el.dataset.state") == ["live"]
        api_pos = httpx.get(f"{base}/api/live/positions").json()["positions"]
        assert js(driver, "#positions tr[data-position-id]", "el => el.dataset.positionId") == [str(api_pos[0]["id"])]
        assert len(js(driver, "#positions tr.leg", "el => el.dataset.leg")) == 2

        # the heatmap: one cell per (symbol, exchange) the API serves
        served = {(c["symbol"], c["exchange"]) for c in httpx.get(f"{base}/api/live/funding").json()["cells"]}
        shown = [tuple(x) for x in js(driver, "#heatmap td.cell", "el => [el.dataset.symbol, el.dataset.exchange]")]
        assert len(served) == 40 and len(shown) == len(set(shown)) and set(shown) == served
        title = js(driver, "#heatmap td.cell", "el => el.title")[0]
        assert "interval" in title and "next funding" in title
        # sortable: by an exchange's APR, highest first
        driver.execute_script("document.querySelector('#heatmap th[data-sort=lighter]').click()")
        aprs = [float(t.replace("%", "")) for t in js(driver, "#heatmap td.cell[data-exchange=lighter]",
                                                      "el => el.textContent")]
        assert len(aprs) == 10 and aprs == sorted(aprs, reverse=True)

        # the grid, the streams, the events and the PnL chart are on the page
        wait_for(driver, lambda d: js(d, "#grids [data-grid]", "el => el.dataset.grid"), "no grid shown")
        assert len(js(driver, "#streams tbody tr", "el => el.dataset.stream")) >= 4
        assert js(driver, "#events li[data-kind]", "el => el.dataset.kind")
        wait_for(driver, lambda d: js(d, "#pnl-chart canvas", "el => el.width"), "no PnL chart")
        # the funding payments reach the PnL chart (refetched after funding events)
        wait_for(driver, lambda d: not js(d, "#pnl-total", "el => el.textContent")[0].startswith("0.0000"),
                 "the PnL chart never moved")

        shot = ROOT / "docs" / "img" / "dashboard.png" if os.environ.get("PERPDEX_SCREENSHOT") else tmp_path / "dashboard.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1440, min(height + 40, 2400))
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []

        # the run stops: the page says the connection is lost...
        out, err = stop(run)
        assert run.returncode == 0, err
        assert f"dashboard at {base}/" in out
        wait_for(driver, lambda d: js(d, "#conn", "el => el.dataset.state") == ["lost"], "the lost connection is not shown")
        assert "connection lost" in js(driver, "#conn", "el => el.textContent")[0]
        # ...and reconnects by itself to `perpdex serve` on the same port (storage only, no run attached)
        scfg = yaml.safe_load(cfg.read_text())
        scfg["service"] = {"interval_s": 1}
        scfg_path = tmp_path / "serve.yml"
        scfg_path.write_text(yaml.safe_dump(scfg))
        serve = subprocess.Popen([*PERPDEX, "serve", "--config", str(scfg_path), "--port", str(port)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(driver, lambda d: js(d, "#conn", "el => el.dataset.state") == ["live"], "the page did not reconnect")
        wait_for(driver, lambda d: "no run attached" in js(d, "#run", "el => el.textContent")[0], "status not refreshed")
        assert driver.execute_script("return window.__sameDocument === true")

        # while the server was down the browser logged its refused reconnects (network errors), nothing else
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
                  and not ("/api/live/stream" in e["message"] and "net::ERR_" in e["message"])]
        assert errors == []
    finally:
        stop(run)
        if serve is not None:
            out, err = stop(serve)
            assert serve.returncode == 0, err

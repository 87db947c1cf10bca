"""kvweb.py - a real Chromium (headless) driven through WebDriver for the
cashier page tests (tests/test_cashier.c runs tests/web/cashier.py).

Nothing here is a mock: the browser talks to a real `kvitt serve` over
loopback, which talks to `kvitt sim` and prints on `kvitt vprinter`.
Exit status 77 with a `SKIP:` line when the browser cannot start.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request

CHROMIUM = os.environ.get("KVITT_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("KVITT_CHROMEDRIVER", "/usr/bin/chromedriver")
SKIP = 77


def skip(why):
    print("SKIP: " + why)
    sys.stdout.flush()
    sys.exit(SKIP)


def start(width=412, height=915):
    """A fresh headless Chromium with an empty profile; (driver, profile)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip("python3-selenium is not installed")
    if not os.access(CHROMIUM, os.X_OK) or not os.access(DRIVER, os.X_OK):
        skip("chromium or chromedriver is not installed (%s, %s)" % (CHROMIUM, DRIVER))
    profile = tempfile.mkdtemp(prefix="kvitt-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--user-data-dir=" + profile,
              "--window-size=%d,%d" % (width, height), "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    except Exception as e:  # noqa: BLE001 - any start failure is a skip
        shutil.rmtree(profile, ignore_errors=True)
        skip("the browser cannot start: %s" % str(e).splitlines()[0])
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    return drv, profile


def stop(drv, profile):
    try:
        drv.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(drv, allow=()):
    """SEVERE entries of the browser log not matching any of allow."""
    out = []
    for e in drv.get_log("browser"):
        if e.get("level") != "SEVERE":
            continue
        if any(a in e.get("message", "") for a in allow):
            continue
        out.append(e["message"])
    return out


def wait(drv, cond, timeout=30, what="condition"):
    """Poll cond(drv) until it returns something true; fail after timeout."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = cond(drv)
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - the page is changing under us
            last = e
        time.sleep(0.02)
    raise AssertionError("timed out waiting for %s (%s)" % (what, last))


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

#!/usr/bin/env python3
"""cashier.py CASE - one browser case of the cashier page (/till/).

Run by tests/test_cashier.c, which starts `kvitt sim`, `kvitt vprinter`
and `kvitt serve` and passes them in the environment:

  KVITT_URL          the daemon's base URL
  KVITT_SIM_URL      the simulator's base URL (acts as the customer)
  KVITT_TOKEN        till t-oslo's token
  KVITT_PRINTER_DIR  the vprinter's job folder (and its `state` file)
  KVITT_SERVE_LOG    the daemon's log
  KVITT_JOURNAL      the journal database (sessions live there)
  KVITT_PAIR_CODE    a pairing code made by `kvitt serve pair` (case pair)
  KVITT_MONEY        JSON {lang: text of 1234.56 as kv_money_format prints it}
  KVITT_SHOTS        folder for screenshots (optional)

Prints `OK CASE`, `BENCH name=ms` lines; exits 0, 1 on failure, 77 to skip.
"""
import json
import os
import sqlite3
import sys
import threading
import time
import http.server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvweb  # noqa: E402

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402

URL = os.environ.get("KVITT_URL", "")
SIM = os.environ.get("KVITT_SIM_URL", "")
TOKEN = os.environ.get("KVITT_TOKEN", "")
PDIR = os.environ.get("KVITT_PRINTER_DIR", "")
SHOTS = os.environ.get("KVITT_SHOTS", "")
PAGE = URL + "/till/"


def shot(drv, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        drv.save_screenshot(os.path.join(SHOTS, "cashier-%s.png" % name))


def q(drv, css):
    return drv.find_element(By.CSS_SELECTOR, css)


def click(drv, css, timeout=10):
    """Find and click css; the page may draw the element again between the
    two (a stale handle), so the pair is retried until timeout."""
    end = time.time() + timeout
    while True:
        try:
            q(drv, css).click()
            return
        except StaleElementReferenceException:
            if time.time() > end:
                raise
            time.sleep(0.02)


def present(css):
    def f(drv):
        els = drv.find_elements(By.CSS_SELECTOR, css)
        return els[0] if els and els[0].is_displayed() else None
    return f


def sign_in(drv, token=TOKEN, lang="en"):
    drv.get(PAGE)
    kvweb.wait(drv, present("#token"), what="the sign-in form")
    if lang:
        drv.execute_script("localStorage.setItem('kvitt.lang', arguments[0])", lang)
        drv.refresh()
        kvweb.wait(drv, lambda d: q(d, "html").get_attribute("lang") == lang, what="language")
    q(drv, "#token").send_keys(token)
    click(drv, "#signin-btn")


def signed_in(drv):
    kvweb.wait(drv, present("#pay"), what="the sale screen")


def key_in(drv, digits):
    for d in digits:
        click(drv, 'button[data-key="%s"]' % d)


def jobs():
    return sorted(f for f in os.listdir(PDIR) if f.endswith(".bin"))


def job_with(needle, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        for f in jobs():
            with open(os.path.join(PDIR, f), "rb") as fh:
                if needle.encode() in fh.read():
                    return f
        time.sleep(0.05)
    return None


def start_payment(drv, digits):
    key_in(drv, digits)
    kvweb.wait(drv, lambda d: q(d, "#pay").is_enabled(), what="Pay enabled")
    before = set(jobs())
    click(drv, "#pay")
    box = kvweb.wait(drv, present("#waiting"), timeout=60, what="the waiting screen")
    ref = drv.execute_script("return localStorage.getItem('kvitt.ref')")
    assert ref, "the page did not keep the reference"
    assert "QR printed, ask the customer to scan" in box.text, box.text
    return ref, before


def customer(ref, state):
    st, body = kvweb.http("POST", "%s/sim/v1/payments/%s/state" % (SIM, ref), {"state": state})
    assert st == 200, "simulator %s: %d %s" % (state, st, body)


RESULT_JS = """
var r = document.querySelector('#result');
return r ? [r.getAttribute('data-kind') || '', r.innerText] : null;
"""


def result(drv, kind, timeout=60):
    """Wait for the final screen and check its kind.  The screen is read in
    one script call (it may be drawn again while the page follows the
    feed, which would leave an element handle stale)."""
    seen = [None]

    def final(d):
        seen[0] = d.execute_script(RESULT_JS)
        return seen[0] is not None and seen[0][0] == kind

    try:
        kvweb.wait(drv, final, timeout=timeout, what="the final screen %s" % kind)
    except AssertionError:
        raise AssertionError("final screen %s, want %s: %s" % (
            seen[0][0] if seen[0] else "(none)", kind, seen[0][1] if seen[0] else ""))
    return q(drv, "#result")


A11Y = """
var bad = [];
document.querySelectorAll('input, select, button').forEach(function (e) {
  if (e.offsetParent === null) return;  /* not shown */
  var named = (e.labels && e.labels.length) || e.getAttribute('aria-label') || e.textContent.trim();
  if (!named) bad.push('no label: ' + e.outerHTML.slice(0, 80));
  var r = e.getBoundingClientRect();
  if (e.type !== 'checkbox' && r.height < 44) bad.push('target ' + r.height + 'px: ' + e.outerHTML.slice(0, 80));
});
return bad;
"""


def accessible(drv):
    """Every visible control has a label and is at least 44 px tall."""
    bad = drv.execute_script(A11Y)
    assert not bad, "accessibility: %s" % bad[:3]


def no_console_errors(drv, allow=()):
    errs = kvweb.console_errors(drv, allow)
    assert not errs, "%d browser console errors, first: %s" % (len(errs), errs[:2])


# ---- cases -----------------------------------------------------------------------------

def case_paid(drv):
    drv.get(PAGE)
    kvweb.wait(drv, present("#token"))
    shot(drv, "signin")
    sign_in(drv)
    signed_in(drv)
    kvweb.wait(drv, lambda d: q(d, "#printer").get_attribute("data-state") in ("ready",),
               what="printer ready")
    key_in(drv, "14900")
    assert q(drv, "#amount").text == "NOK 149.00", q(drv, "#amount").text
    accessible(drv)
    shot(drv, "sale")
    before = set(jobs())
    t0 = time.time()
    click(drv, "#pay")
    # first new job in the vprinter = the QR slip (filed when the link closes)
    slip = kvweb.wait(drv, lambda d: sorted(set(jobs()) - before), timeout=60, what="the slip")
    t_slip = os.stat(os.path.join(PDIR, slip[0])).st_mtime
    box = kvweb.wait(drv, present("#waiting"), timeout=60)
    assert "QR printed, ask the customer to scan" in box.text
    accessible(drv)
    shot(drv, "waiting")
    bench = drv.execute_script("return window.kvBench")
    ref = drv.execute_script("return localStorage.getItem('kvitt.ref')")
    t_approve = time.time()
    customer(ref, "AUTHORIZED")
    result(drv, "paid")
    bench = drv.execute_script("return window.kvBench")
    # the receipt follows the capture, and with it the reprint button
    kvweb.wait(drv, present("#reprint"), what="reprint on the paid screen")
    shot(drv, "paid")
    rc = job_with(ref)
    assert rc, "no receipt with %s in the vprinter" % ref
    assert job_with("149,00") or job_with("149.00"), "the receipt lacks the amount"
    print("BENCH tap_to_201_ms=%.0f" % (bench["created"] - bench["payTap"]))
    print("BENCH tap_to_slip_filed_ms=%.0f" % ((t_slip - t0) * 1000))
    print("BENCH approve_to_paid_ms=%.0f" % (bench["paidShown"] - t_approve * 1000))
    no_console_errors(drv)


def case_declined(drv):
    sign_in(drv)
    signed_in(drv)
    ref, _ = start_payment(drv, "151")
    customer(ref, "AUTHORIZED")  # 1.51 is a magic amount: the approval fails
    result(drv, "declined")
    assert "Declined" in q(drv, "#result").text
    shot(drv, "declined")
    no_console_errors(drv)


def case_cancel(drv):
    sign_in(drv)
    signed_in(drv)
    ref, _ = start_payment(drv, "2500")
    click(drv, "#cancel")
    result(drv, "cancelled")
    st, body = kvweb.http("GET", "%s/v1/payments/%s" % (URL, ref),
                          headers={"Authorization": "Bearer " + TOKEN})
    assert st == 200 and '"state":"CANCELLED"' in body, body
    no_console_errors(drv)


def case_refund(drv):
    sign_in(drv)
    signed_in(drv)
    ref, _ = start_payment(drv, "20000")
    customer(ref, "AUTHORIZED")
    result(drv, "paid")
    job_with(ref)
    kvweb.wait(drv, present("#reprint"), what="reprint on the paid screen")
    click(drv, "#new-sale")
    click(drv, "#tab-today")
    row = kvweb.wait(drv, present('#orders button[data-ref="%s"]' % ref), what="the row")
    kvweb.wait(drv, lambda d: "Total paid NOK 200.00" in q(d, "#totals").text or
               "Total paid" in q(d, "#totals").text, what="totals")
    shot(drv, "today")
    row.click()
    inp = kvweb.wait(drv, present("#refund-amount"))
    inp.clear()
    inp.send_keys("50.00")
    n_before = len(jobs())
    click(drv, "#refund")
    kvweb.wait(drv, lambda d: "Refunded NOK 50.00" in q(d, "#action-msg").text, what="refund done")
    st, body = kvweb.http("GET", "%s/v1/payments/%s" % (URL, ref),
                          headers={"Authorization": "Bearer " + TOKEN})
    assert '"refunded":"50.00"' in body, body
    click(drv, "#reprint")
    kvweb.wait(drv, lambda d: "Copy printed" in q(d, "#action-msg").text, what="reprint done")
    # (the refund slip goes to the store's printer, the copy to the till's)
    kvweb.wait(drv, lambda d: len(jobs()) >= n_before + 1, what="the copy")
    # the store prints in Norwegian: the copy is marked KOPI
    copies = [f for f in jobs() if b"KOPI" in open(os.path.join(PDIR, f), "rb").read()
              and ref.encode() in open(os.path.join(PDIR, f), "rb").read()]
    assert copies, "no receipt of %s marked KOPI in the vprinter" % ref
    # search by reference
    q(drv, "#search").send_keys(ref)
    click(drv, "#search-btn")
    kvweb.wait(drv, present('#search-results button[data-ref="%s"]' % ref), what="search hit")
    no_console_errors(drv)


def case_reload(drv):
    sign_in(drv)
    signed_in(drv)
    ref, _ = start_payment(drv, "4200")
    drv.refresh()
    box = kvweb.wait(drv, present("#waiting"), timeout=30, what="the waiting screen after reload")
    assert ref in box.text, box.text
    # and without the remembered reference: found in today's payments
    drv.execute_script("localStorage.removeItem('kvitt.ref')")
    drv.refresh()
    box = kvweb.wait(drv, present("#waiting"), timeout=30, what="waiting found from the journal")
    assert ref in box.text, box.text
    customer(ref, "AUTHORIZED")
    result(drv, "paid")
    no_console_errors(drv)


def case_badtoken(drv):
    sign_in(drv, token="not-the-right-token-000000000000")
    err = kvweb.wait(drv, lambda d: q(d, "#login-err").text, what="the error")
    assert "Wrong token or code" in err, err
    assert not drv.find_elements(By.CSS_SELECTOR, "#pay")
    names = [c["name"] for c in drv.get_cookies()]
    assert "kvitt_till" not in names, names
    # the expected 401 of the sign-in is the only console error
    no_console_errors(drv, allow=("401",))


def case_expired(drv):
    sign_in(drv)
    signed_in(drv)
    db = sqlite3.connect(os.environ["KVITT_JOURNAL"], timeout=10)
    n = db.execute("UPDATE serve_session SET expires = ? WHERE revoked = 0",
                   (int(time.time()) - 1,)).rowcount
    db.commit()
    db.close()
    assert n >= 1, "no session row"
    click(drv, "#tab-today")
    kvweb.wait(drv, present("#token"), what="back at sign-in")
    kvweb.wait(drv, lambda d: "expired" in q(d, "#login-err").text, what="the expiry message")
    no_console_errors(drv, allow=("401",))


class Evil(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):  # noqa: N802 - http.server's name
        page = ("<!doctype html><title>x</title><body>"
                "<form id=f method=POST action='%s/v1/payments' enctype='text/plain'>"
                "<input name='{\"amount\":\"9.00\",\"x\":\"' value='\"}'></form>"
                "<script>fetch('%s/v1/sessions', {method:'GET', credentials:'include', mode:'no-cors'});"
                "document.getElementById('f').submit();</script>" % (self.target, self.target))
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page.encode())

    def log_message(self, *a):
        pass


def case_csrf(drv):
    sign_in(drv)
    signed_in(drv)
    before = drv.execute_async_script(
        "var cb = arguments[0]; fetch('/v1/orders?store=oslo').then(r => r.json())"
        ".then(j => cb(j.orders.length))")
    Evil.target = URL
    srv = http.server.HTTPServer(("127.0.0.1", 0), Evil)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        drv.get("http://127.0.0.1:%d/" % srv.server_address[1])
        kvweb.wait(drv, lambda d: d.current_url.startswith(URL), what="the form post")
        body = drv.find_element(By.TAG_NAME, "body").text
        assert '"error":"csrf"' in body, body
    finally:
        srv.shutdown()
    with open(os.environ["KVITT_SERVE_LOG"]) as fh:
        assert "session.csrf_refused" in fh.read(), "the daemon did not log the refusal"
    drv.get(PAGE)
    signed_in(drv)
    after = drv.execute_async_script(
        "var cb = arguments[0]; fetch('/v1/orders?store=oslo').then(r => r.json())"
        ".then(j => cb(j.orders.length))")
    assert after == before, "a payment was created from another origin (%d -> %d)" % (before, after)


def case_pair(drv):
    code = os.environ["KVITT_PAIR_CODE"]
    drv.get(PAGE + "#pair=" + code)
    kvweb.wait(drv, present("#code"))
    drv.execute_script("localStorage.setItem('kvitt.lang', 'en')")
    assert q(drv, "#code").get_attribute("value") == code
    click(drv, "#signin-btn")
    signed_in(drv)
    click(drv, "#tab-settings")
    kvweb.wait(drv, present("#sessions li"), what="the session list")
    shot(drv, "settings")
    click(drv, "#signout")
    kvweb.wait(drv, present("#code"), what="signed out")
    q(drv, "#code").send_keys(code)
    click(drv, "#signin-btn")
    err = kvweb.wait(drv, lambda d: q(d, "#login-err").text, what="the second use refused")
    assert "Wrong token or code" in err, err
    no_console_errors(drv, allow=("401",))


def case_languages(drv):
    money = json.loads(os.environ["KVITT_MONEY"])
    pay = {"nb": "Betal", "da": "Betal", "fi": "Maksa", "sv": "Betala", "en": "Pay"}
    wait_txt = {"nb": "Salg", "da": "Salg", "fi": "Myynti", "sv": "Försäljning", "en": "Sale"}
    sign_in(drv, lang=None)
    signed_in(drv)
    # the store's language (oslo: nb) is the default
    assert q(drv, "html").get_attribute("lang") == "nb"
    key_in(drv, "123456")
    for lang in ("nb", "da", "fi", "sv", "en"):
        sel = q(drv, "#lang")
        sel.send_keys(Keys.HOME)  # keyboard use of the switch
        drv.execute_script("arguments[0].value = arguments[1];"
                           "arguments[0].dispatchEvent(new Event('change'))", sel, lang)
        kvweb.wait(drv, lambda d: q(d, "#pay").text == pay[lang], what="Pay in " + lang)
        assert q(drv, "#tab-sale").text == wait_txt[lang]
        amt = q(drv, "#amount").text
        assert amt == money[lang], "%s: page %r, receipts %r" % (lang, amt, money[lang])
        shot(drv, "sale-" + lang)
    no_console_errors(drv)


def case_printer(drv):
    sign_in(drv)
    signed_in(drv)
    with open(os.path.join(PDIR, "state"), "w") as fh:
        fh.write("paper-out\n")
    try:
        kvweb.wait(drv, lambda d: (d.refresh() or True) and
                   q(d, "#printer").get_attribute("data-state") == "paper-out",
                   timeout=40, what="paper out shown")
        key_in(drv, "1000")
        assert not q(drv, "#pay").is_enabled(), "Pay must wait for the printer"
        assert "paper out" in q(drv, "#printer").text
        shot(drv, "printer")
    finally:
        with open(os.path.join(PDIR, "state"), "w") as fh:
            fh.write("ok\n")
    click(drv, "#printer-retry")
    kvweb.wait(drv, lambda d: (click(d, "#printer-retry") if d.find_elements(
        By.CSS_SELECTOR, "#printer-retry") else True) and
        q(d, "#printer").get_attribute("data-state") == "ready", timeout=40, what="ready again")
    no_console_errors(drv)


def case_desktop(drv):
    sign_in(drv)
    signed_in(drv)
    key_in(drv, "8990")
    # keyboard: digits typed on a hardware keyboard go to the amount
    q(drv, "body").send_keys("1")
    assert q(drv, "#amount").text == "NOK 899.01", q(drv, "#amount").text
    click(drv, "#add-item")
    inputs = drv.find_elements(By.CSS_SELECTOR, "table.items input")
    inputs[0].send_keys("Kaffe")
    inputs[2].send_keys("80")
    assert "add up to NOK 80.00" in q(drv, "#sale-err").text, q(drv, "#sale-err").text
    assert not q(drv, "#pay").is_enabled()
    accessible(drv)
    # Tab order: from the amount keypad the next stops are Pay-side controls
    q(drv, 'button[data-key="<"]').send_keys(Keys.TAB)
    assert drv.switch_to.active_element.get_attribute("id") in ("pay", "clear"), \
        drv.switch_to.active_element.get_attribute("outerHTML")[:80]
    shot(drv, "desktop")
    no_console_errors(drv)


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}
SIZES = {"desktop": (1280, 800), "refund": (800, 1280)}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: cashier.py %s" % "|".join(sorted(CASES)))
        return 2
    name = sys.argv[1]
    drv, profile = kvweb.start(*SIZES.get(name, (412, 915)))
    try:
        CASES[name](drv)
    except AssertionError as e:
        print("FAIL %s: %s" % (name, e))
        try:
            drv.save_screenshot(os.path.join(os.environ.get("KVITT_FAIL_DIR", "/tmp"),
                                             "cashier-fail-%s.png" % name))
        except Exception:  # noqa: BLE001
            pass
        return 1
    finally:
        kvweb.stop(drv, profile)
    print("OK %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

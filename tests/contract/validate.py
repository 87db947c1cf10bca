#!/usr/bin/env python3
"""Contract test: check `kvitt sim` (and any client traffic it recorded)
against the OpenAPI specs in ../shared/specs.

Two modes, combinable:

  validate.py --specs DIR --url URL --secrets FILE
      drive the simulator through every endpoint kvitt uses (sample
      requests, success and error answers) and validate each request body
      against the spec's request schema and each response against the
      response schema of its status code.

  validate.py --specs DIR --record FILE
      validate every exchange in a recording written by
      `kvitt sim --record FILE` (one JSON object per line: method, path,
      status, contentType, request, response), e.g. all the requests the
      kvitt client sent in a test run and all the answers it got.

Exit status: 0 all valid, 1 at least one violation, 77 skipped (a line
"SKIP: reason" says why: no specs, no python3-yaml/jsonschema).

Known drift between these (2023-24) spec copies and the live API, taken
from specs/SOURCES.md "Known drift", is tolerated and listed in DRIFT.
"""
import argparse
import configparser
import json
import os
import re
import sys
import urllib.error
import urllib.request

try:
    import yaml
    import jsonschema
except ImportError as e:  # pragma: no cover
    print("SKIP: python3-yaml or python3-jsonschema missing (%s)" % e)
    sys.exit(77)

# (spec file, path prefix the server URL adds, path prefix in our URLs)
SPECS = [
    ("access-token-api/swagger.yaml", ""),
    ("vipps-epayment-api/epayment.v1.yml", ""),
    ("vipps-ecom-api/swagger.yaml", ""),
    ("vipps-qr-api/swagger.yaml", "/qr"),
    ("vipps-order-management-api/swagger.yaml", "/order-management"),
    ("webhooks-api/swagger.yaml", "/webhooks"),
    ("vipps-report-api/swagger.yaml", ""),
    ("vipps-management-api/swagger.yaml", ""),
]

# Report API entry types the current guide (developer.vippsmobilepay.com,
# "Entry type reference") lists but this spec copy's enum does not: the
# payout is `payout-scheduled` there (`scheduled-for-payout` in the copy;
# kvitt reads both), and credit notes are new.  The guide says new types may
# come without notice, so the enum is extended, not replaced.
ENTRY_TYPES_ADDED = ["payout-scheduled", "credit-note"]

# Unicode property classes in JSON Schema patterns (ECMA 262 regular
# expressions) that Python's `re` cannot compile: the Management API's
# salesUnitName is '^[\p{L}\p{M}\d\\(\)-_\+\s\.]+$'.  Inside a character
# class, \p{L} (letters) is written as \w (letters, plus digits and '_',
# which that class allows anyway through \d and the range ')-_') and \p{M}
# (marks) as the combining-mark blocks.  Only the pattern keyword is
# rewritten; the rest of the schema is checked as written.
UNICODE_CLASSES = {
    r"\p{L}": r"\w",
    r"\p{M}": r"\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f",
}


def python_pattern(pattern):
    for k, v in UNICODE_CLASSES.items():
        pattern = pattern.replace(k, v)
    re.compile(pattern)  # a pattern still not compilable fails loudly here
    return pattern


# Key marking a deliberately invalid sample request (the simulator ignores it).
MARK = "x-contract-invalid"

# Tolerated differences (see specs/SOURCES.md "Known drift" and the README
# section "The simulator").
DRIFT = {
    # The spec's PaymentEvent lists `paymentAction` as required, but the
    # property (and the live API) is `name`.
    ("PaymentEvent", "required"): "paymentAction",
}


def str_keys(node):
    """YAML reads an unquoted `200:` (the Report API's responses) as a
    number; OpenAPI means the text "200", as $refs and lookups do."""
    if isinstance(node, dict):
        return {str(k) if isinstance(k, int) else k: str_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [str_keys(x) for x in node]
    return node


class Specs:
    def __init__(self, root):
        self.root = root
        self.docs = {}
        self.ops = []  # (method, regex, prefix, docname, operation)
        for name, prefix in SPECS:
            doc = self.load(name)
            for p, item in doc.get("paths", {}).items():
                rx = "^" + re.escape(prefix) + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "/?$"
                for m, op in item.items():
                    if m in ("get", "post", "put", "delete", "patch"):
                        self.ops.append((m.upper(), re.compile(rx), prefix, name, op))

    def load(self, name):
        if name not in self.docs:
            with open(os.path.join(self.root, name), encoding="utf-8") as f:
                self.docs[name] = str_keys(yaml.safe_load(f))
        return self.docs[name]

    def ref_target(self, docname, ref):
        if ref.startswith("#"):
            target_doc, frag = docname, ref[1:]
        else:
            url, _, frag = ref.partition("#")
            if "vipps-order-management-api" in url:
                target_doc = "vipps-order-management-api/swagger.yaml"
            else:
                target_doc = os.path.join(os.path.dirname(docname), os.path.basename(url))
        node = self.load(target_doc)
        for part in frag.strip("/").split("/"):
            if part:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return target_doc, node, frag

    def resolve(self, docname, node, seen=()):
        """Inline $refs, turn OpenAPI 3.0 `nullable` into JSON Schema."""
        if isinstance(node, list):
            return [self.resolve(docname, x, seen) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            key = (docname, node["$ref"])
            if key in seen:
                return {}
            tdoc, target, frag = self.ref_target(docname, node["$ref"])
            out = self.resolve(tdoc, target, seen + (key,))
            name = frag.rsplit("/", 1)[-1]
            drop = DRIFT.get((name, "required"))
            if drop and isinstance(out, dict) and drop in out.get("required", []):
                out = dict(out)
                out["required"] = [r for r in out["required"] if r != drop]
            return out
        out = {}
        for k, v in node.items():
            if k in ("example", "examples", "x-examples", "description", "discriminator", "xml"):
                continue
            if k == "pattern" and isinstance(v, str):
                out[k] = python_pattern(v)
            elif k == "properties" and isinstance(v, dict):
                out[k] = {pk: self.resolve(docname, pv, seen) for pk, pv in v.items()}
                et = out[k].get("entryType")
                if "report-api" in docname and isinstance(et, dict) and "enum" in et:
                    et["enum"] = list(et["enum"]) + ENTRY_TYPES_ADDED
            else:
                out[k] = self.resolve(docname, v, seen)
        # Spec quirk: `customer` is a oneOf of objects that exclude nothing
        # (no `required`, open properties), so every value matches all
        # branches; validate it as anyOf.
        if isinstance(out.get("oneOf"), list) and all(
                isinstance(b, dict) and b.get("type") == "object" and not b.get("required")
                for b in out["oneOf"]):
            out["anyOf"] = out.pop("oneOf")
        if out.get("nullable") is True and "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        return out

    def find(self, method, path):
        for m, rx, prefix, docname, op in self.ops:
            if m == method and rx.match(path):
                return docname, op
        return None, None

    def response_schema(self, docname, op, status, ctype):
        resps = op.get("responses", {})
        r = resps.get(str(status)) or resps.get("default")
        if r is None:
            return "undocumented", None
        if "$ref" in r:
            docname, r, _ = self.ref_target(docname, r["$ref"])
        content = r.get("content") or {}
        if not content:
            return "no-schema", None
        base = (ctype or "").split(";")[0].strip().lower()
        chosen = None
        for ct, c in content.items():
            if ct.split(";")[0].strip().lower() == base:
                chosen = c
        if chosen is None:  # e.g. modification responses labelled problem+json
            chosen = next(iter(content.values()))
        if "schema" not in chosen:
            return "no-schema", None
        return "ok", self.resolve(docname, chosen["schema"])

    def request_schema(self, docname, op):
        rb = op.get("requestBody")
        if not rb:
            return None
        if "$ref" in rb:
            docname, rb, _ = self.ref_target(docname, rb["$ref"])
        for ct, c in (rb.get("content") or {}).items():
            if "json" in ct and "schema" in c:
                return self.resolve(docname, c["schema"])
        return None


class Checker:
    def __init__(self, specs):
        self.specs = specs
        self.fail = 0
        self.checked = 0

    def check(self, method, path, status, ctype, req_body, resp_body, expect=None, bad_request=False):
        docname, op = self.specs.find(method, path)
        tag = "%s %s -> %s" % (method, path, status)
        if op is None:
            if path.startswith("/sim/"):
                return
            print("FAIL %s: no operation in the specs" % tag)
            self.fail += 1
            return
        problems = []
        if expect is not None and status != expect:
            problems.append("expected status %s" % expect)
        if req_body not in (None, "", b""):
            schema = self.specs.request_schema(docname, op)
            if schema is not None:
                try:
                    jsonschema.validate(json.loads(req_body), schema)
                    if bad_request:
                        problems.append("request: a deliberately invalid sample passed the schema")
                except (ValueError, jsonschema.ValidationError) as e:
                    if not bad_request:
                        problems.append("request: %s" % str(e).split("\n")[0])
        what, schema = self.specs.response_schema(docname, op, status, ctype)
        if what == "undocumented" and status not in (401, 403, 404, 405, 429, 500, 503):
            problems.append("status %s is not documented for this operation" % status)
        if schema is not None:
            try:
                body = json.loads(resp_body) if resp_body else None
                jsonschema.validate(body, schema)
            except (ValueError, jsonschema.ValidationError) as e:
                problems.append("response: %s" % str(e).split("\n")[0])
        self.checked += 1
        if problems:
            self.fail += 1
            print("FAIL %s (%s): %s" % (tag, docname, "; ".join(problems)))
        else:
            print("ok   %s (%s: %s)" % (tag, os.path.dirname(docname), what))


def http(base, method, path, headers, body=None):
    data = body.encode() if isinstance(body, str) else body
    if data is None and method in ("POST", "PUT"):
        data = b""
    req = urllib.request.Request(base + path, data=data, method=method)
    for k, v in headers.items():
        req.add_header(k, v)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8", "replace")


def drive(base, secrets, chk):
    cp = configparser.ConfigParser(inline_comment_prefixes=("#",))
    cp.read(secrets)
    c = cp["credentials oslo"]
    tokh = {"client_id": c["client_id"], "client_secret": c["client_secret"],
            "Ocp-Apim-Subscription-Key": c["subscription_key"], "Merchant-Serial-Number": "123456"}

    # A per-run tag in every reference/orderId/key, so that the script can
    # run again against the same simulator.
    tag = "CT%04x-" % (os.getpid() & 0xFFFF)

    def run(method, path, hdrs, body=None, expect=None, bad_request=False):
        path = path.replace("CT-", tag)
        body = body.replace("CT-", tag) if body is not None else None
        hdrs = {k: v.replace("CT-", tag) for k, v in hdrs.items()}
        st, ct, rb = http(base, method, path, hdrs, body)
        chk.check(method, path, st, ct, body, rb, expect, bad_request)
        try:
            return st, json.loads(rb) if rb else None
        except ValueError:
            return st, None

    st, tok = run("POST", "/accesstoken/get", tokh, None, 200)
    h = {"Authorization": "Bearer " + tok["access_token"], "Ocp-Apim-Subscription-Key": c["subscription_key"],
         "Merchant-Serial-Number": "123456", "Vipps-System-Name": "kvitt", "Vipps-System-Version": "0.1.0",
         "Vipps-System-Plugin-Name": "kvitt-contract", "Vipps-System-Plugin-Version": "0.1.0"}
    bad = dict(tokh, client_secret="nope")
    run("POST", "/accesstoken/get", bad, None, 401)

    def key(k):
        return dict(h, **{"Idempotency-Key": k})

    def create(ref, value, flow="QR", extra=None):
        b = {"amount": {"currency": "NOK", "value": value}, "paymentMethod": {"type": "WALLET"},
             "reference": ref, "userFlow": flow, "customerInteraction": "CUSTOMER_PRESENT",
             "paymentDescription": "Contract test"}
        b.update(extra or {})
        return run("POST", "/epayment/v1/payments", key(ref + "-c"), json.dumps(b), 201)

    receipt = {"orderLines": [{"name": "Kaffe", "id": "1", "totalAmount": 4900, "totalAmountExcludingTax": 3920,
                               "totalTaxAmount": 980, "taxRate": 2500,
                               "unitInfo": {"unitPrice": 4900, "quantity": "1", "quantityUnit": "PCS"}}],
               "bottomLine": {"currency": "NOK", "posId": "till-1", "receiptNumber": "1001"}}
    create("CT-epay-0001", 4900, extra={"qrFormat": {"format": "TEXT/TARGETURL"}, "receipt": receipt,
                                        "metadata": {"till": "1"}})
    create("CT-epay-0002", 4900, extra={"qrFormat": {"format": "IMAGE/PNG", "size": 400}})
    create("CT-epay-0003", 4900, "PUSH_MESSAGE", {"customer": {"phoneNumber": "4791234567"}})
    run("GET", "/epayment/v1/payments/CT-epay-0001", h, None, 200)
    run("POST", "/epayment/v1/test/payments/CT-epay-0001/approve", h,
        json.dumps({"customer": {"phoneNumber": "4791234567"}}), 200)
    mod = lambda v: json.dumps({"modificationAmount": {"currency": "NOK", "value": v}})
    run("POST", "/epayment/v1/payments/CT-epay-0001/capture", key("CT-epay-0001-cap1"), mod(2000), 200)
    run("POST", "/epayment/v1/payments/CT-epay-0001/capture", key("CT-epay-0001-cap1"), mod(2100), 409)
    run("POST", "/epayment/v1/payments/CT-epay-0001/refund", key("CT-epay-0001-ref1"), mod(500), 200)
    run("POST", "/epayment/v1/payments/CT-epay-0001/cancel", key("CT-epay-0001-can1"), None, 200)
    run("GET", "/epayment/v1/payments/CT-epay-0001", h, None, 200)
    run("GET", "/epayment/v1/payments/CT-epay-0001/events", h, None, 200)
    run("POST", "/epayment/v1/payments/CT-epay-0002/cancel", key("CT-epay-0002-can1"), None, 200)
    run("GET", "/epayment/v1/payments/CT-epay-0002", h, None, 200)
    run("POST", "/epayment/v1/payments/CT-epay-0003/capture", key("CT-epay-0003-cap1"), mod(100), 400)
    run("GET", "/epayment/v1/payments/CT-no-such-ref", h, None, 404)
    run("POST", "/epayment/v1/payments", key("CT-bad-1"), json.dumps({"amount": {"currency": "NOK", "value": 1.5}, MARK: True}), 400, bad_request=True)

    # eCom + QR API + callbacks
    ecom = {"merchantInfo": {"merchantSerialNumber": "123456", "callbackPrefix": "https://example.no/cb",
                             "fallBack": "https://example.no", "authToken": "t0k"},
            "customerInfo": {}, "transaction": {"orderId": "CT-ecom-0001", "amount": 20000,
                                                "transactionText": "Kaffe", "skipLandingPage": False}}
    st, ini = run("POST", "/ecomm/v2/payments", h, json.dumps(ecom), 200)
    run("GET", "/ecomm/v2/payments/CT-ecom-0001/details", h, None, 200)
    run("POST", "/qr/v1/", dict(h, Accept="text/targetUrl"), json.dumps({"url": ini["url"]}), 200)
    run("POST", "/qr/v1/", dict(h, Accept="image/png", Size="400"), json.dumps({"url": ini["url"]}), 200)
    run("POST", "/qr/v1/", dict(h, Accept="text/targetUrl"), json.dumps({"url": "https://example.no"}), 400)
    run("POST", "/ecomm/v2/integration-test/payments/CT-ecom-0001/approve", h,
        json.dumps({"customerPhoneNumber": "91234567"}), 200)
    mi = {"merchantSerialNumber": "123456"}
    run("POST", "/ecomm/v2/payments/CT-ecom-0001/capture", dict(h, **{"X-Request-Id": "ct-cap-1"}),
        json.dumps({"merchantInfo": mi, "transaction": {"amount": 5000, "transactionText": "Kaffe"}}), 200)
    run("POST", "/ecomm/v2/payments/CT-ecom-0001/refund", dict(h, **{"X-Request-Id": "ct-ref-1"}),
        json.dumps({"merchantInfo": mi, "transaction": {"amount": 1000, "transactionText": "Retur"}}), 200)
    run("PUT", "/ecomm/v2/payments/CT-ecom-0001/cancel", h,
        json.dumps({"merchantInfo": mi, "transaction": {"transactionText": "Avbrutt"},
                    "shouldReleaseRemainingFunds": True}), 200)
    run("GET", "/ecomm/v2/payments/CT-ecom-0001/details", h, None, 200)
    run("GET", "/ecomm/v2/payments/CT-ecom-0001/status", h, None, 200)
    ecom2 = json.loads(json.dumps(ecom))
    ecom2["transaction"]["orderId"] = "CT-ecom-0002"
    ecom2["customerInfo"] = {"mobileNumber": "99999999"}
    run("POST", "/ecomm/v2/payments", h, json.dumps(ecom2), 400)
    run("GET", "/ecomm/v2/payments/CT-no-such-order/details", h, None, 404)

    # Order Management
    run("POST", "/order-management/v2/ECOM/receipts/CT-epay-0002", h, json.dumps(receipt), 201)
    run("POST", "/order-management/v2/ECOM/receipts/CT-epay-0002", h, json.dumps(receipt), 409)
    run("PUT", "/order-management/v2/ECOM/categories/CT-epay-0002", h,
        json.dumps({"category": "RECEIPT", "orderDetailsUrl": "https://example.no/o/1"}), 200)
    run("GET", "/order-management/v2/ECOM/CT-epay-0002", h, None, 200)

    # Webhooks API
    st, reg = run("POST", "/webhooks/v1/webhooks", h,
                  json.dumps({"url": "https://example.no/hook", "events": ["epayments.payment.captured.v1"]}), 201)
    run("GET", "/webhooks/v1/webhooks", h, None, 200)
    run("POST", "/webhooks/v1/webhooks", h, json.dumps({"url": "https://example.no/hook", "events": ["nope"]}), 400)
    run("DELETE", "/webhooks/v1/webhooks/" + reg["id"], h, None, 204)


def check_record(path, chk):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            x = json.loads(line)
            req = x.get("request")
            chk.check(x["method"], x["path"], x["status"], x.get("contentType", ""), req,
                      x.get("response"), bad_request=bool(req) and MARK in req)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--specs", default=os.path.join(os.environ.get("KVITT_SHARED", "../shared"), "specs"))
    ap.add_argument("--url")
    ap.add_argument("--secrets")
    ap.add_argument("--record")
    a = ap.parse_args()
    if not os.path.isdir(a.specs):
        print("SKIP: no OpenAPI specs at %s (../shared is absent)" % a.specs)
        return 77
    chk = Checker(Specs(a.specs))
    if a.url:
        drive(a.url.rstrip("/"), a.secrets, chk)
    if a.record:
        check_record(a.record, chk)
    print("contract: %d exchanges checked, %d violations" % (chk.checked, chk.fail))
    return 1 if chk.fail or chk.checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

"""A local fake of the Stripe API for tests: the real SDK is pointed at it.

Speaks the documented shapes of `POST /v1/coupons`, `POST /v1/promotion_codes` (form-encoded;
the 2025+ promotion code takes `promotion[type]=coupon` and `promotion[coupon]`),
`POST /v1/promotion_codes/:id` (update: `active`, `metadata`) and `GET /v1/invoices/:id`
(`expand[]=discounts` turns the invoice's discount ids into discount objects; tests put the
invoices and discounts Stripe would hold into `invoices` and `discounts`), answers errors in
Stripe's `{"error": {...}}` shape (404 `resource_missing` for an unknown id), and honours
`Idempotency-Key` like Stripe: the same key returns the stored response (with
`Idempotent-Replayed: true`); the same key with different parameters is a 400
`idempotency_error`.

The list endpoints Kansha reads (`GET /v1/promotion_codes`, `/v1/checkout/sessions`,
`/v1/invoices`, `/v1/refunds`, `/v1/invoice_payments`) answer Stripe's list shape
(`{"object": "list", "data": [...], "has_more": ..., "url": ...}`), newest first, `limit`
(default 10, at most 100) objects a page, the next page `starting_after` the last id, filtered
by `created[gte]`/`created[lt]`, `status`, `payment_intent`, `charge` and
`payment[payment_intent]` as Stripe documents; `expand[]=data.discounts` expands an invoice
list's discounts. `GET /v1/promotion_codes/:id` and `GET /v1/charges/:id` retrieve one object.
Tests put what Stripe would hold into `checkout_sessions`, `charges`, `refunds` and
`invoice_payments` (and `promotion_codes`, `invoices`); `list_pages` counts the pages served
per path, so a test can see the SDK paginate.

Failures can be scripted per path: `fail(path, times, status)` answers before the request
reaches the idempotency layer (like a gateway error; nothing is created), and
`hang(path, times, seconds)` creates the object and stores the idempotent response, then
holds the reply past the client's timeout (the dangerous case: the object exists but the
client never heard).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`promotion[coupon]=x&metadata[a]=b` → {"promotion": {"coupon": "x"}, ...}."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


@dataclass
class Recorded:
    method: str
    path: str
    idempotency_key: str | None
    params: dict[str, Any]
    status: int
    replayed: bool = False


@dataclass
class _Script:
    fail: dict[str, list[int]] = field(default_factory=dict)
    hang: dict[str, list[float]] = field(default_factory=dict)


class FakeStripe:
    def __init__(self) -> None:
        self.coupons: dict[str, dict] = {}
        self.promotion_codes: dict[str, dict] = {}
        # What Stripe holds that Kansha only reads (tests fill these in).
        self.invoices: dict[str, dict] = {}
        self.discounts: dict[str, dict] = {}
        self.checkout_sessions: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.invoice_payments: dict[str, dict] = {}
        self.list_pages: dict[str, int] = {}
        self.requests: list[Recorded] = []
        self._idem: dict[str, tuple[str, dict, int, dict]] = {}
        self._script = _Script()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle and scripting ---
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, path: str, *, times: int = 1, status: int = 500) -> None:
        self._script.fail.setdefault(path, []).extend([status] * times)

    def hang(self, path: str, *, times: int = 1, seconds: float = 3.0) -> None:
        self._script.hang.setdefault(path, []).extend([seconds] * times)

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    # --- the API ---
    def _create_coupon(self, p: dict) -> tuple[int, dict]:
        if not p.get("percent_off") and not p.get("amount_off"):
            return 400, _error("parameter_missing", "Must provide percent_off or amount_off.")
        if p.get("amount_off") and not p.get("currency"):
            return 400, _error("parameter_missing", "currency is required with amount_off.")
        coupon = {
            "id": "co_" + secrets.token_hex(8), "object": "coupon",
            "amount_off": int(p["amount_off"]) if p.get("amount_off") else None,
            "currency": p.get("currency"), "duration": p.get("duration", "once"),
            "name": p.get("name"), "percent_off": float(p["percent_off"])
            if p.get("percent_off") else None, "metadata": p.get("metadata", {}),
            "valid": True, "times_redeemed": 0, "created": int(time.time()), "livemode": False,
        }
        self.coupons[coupon["id"]] = coupon
        return 200, coupon

    def _create_promotion_code(self, p: dict) -> tuple[int, dict]:
        promotion = p.get("promotion") or {}
        if "coupon" in p:
            return 400, _error("parameter_unknown", "Received unknown parameter: coupon. "
                               "Use promotion[coupon] with promotion[type]=coupon.", "coupon")
        if promotion.get("type") != "coupon" or not promotion.get("coupon"):
            return 400, _error("parameter_missing", "Missing required param: promotion.",
                               "promotion")
        if promotion["coupon"] not in self.coupons:
            return 400, _error("resource_missing",
                               f"No such coupon: '{promotion['coupon']}'", "promotion[coupon]")
        code = p.get("code") or secrets.token_hex(4).upper()
        if any(pc["code"].lower() == code.lower() and pc["active"]
               for pc in self.promotion_codes.values()):
            return 400, _error("invalid_request_error",
                               "An active promotion code with `code` already exists.", "code")
        restrictions = p.get("restrictions") or {}
        promo = {
            "id": "promo_" + secrets.token_hex(8), "object": "promotion_code", "active": True,
            "code": code, "created": int(time.time()), "customer": p.get("customer"),
            "expires_at": int(p["expires_at"]) if p.get("expires_at") else None,
            "livemode": False,
            "max_redemptions": int(p["max_redemptions"]) if p.get("max_redemptions") else None,
            "metadata": p.get("metadata", {}),
            "promotion": {"type": "coupon", "coupon": promotion["coupon"]},
            "restrictions": {
                "first_time_transaction": False,
                "minimum_amount": int(restrictions["minimum_amount"])
                if restrictions.get("minimum_amount") else None,
                "minimum_amount_currency": restrictions.get("minimum_amount_currency"),
            },
            "times_redeemed": 0,
        }
        self.promotion_codes[promo["id"]] = promo
        return 200, promo

    def _update_promotion_code(self, promo_id: str, p: dict) -> tuple[int, dict]:
        promo = self.promotion_codes.get(promo_id)
        if promo is None:
            return 404, _error("resource_missing", f"No such promotion code: '{promo_id}'",
                               "promotion_code")
        unknown = set(p) - {"active", "metadata", "restrictions", "expand"}
        if unknown:
            name = sorted(unknown)[0]
            return 400, _error("parameter_unknown", f"Received unknown parameter: {name}",
                               name)
        if "active" in p:
            promo["active"] = p["active"] == "true"
        promo["metadata"] = {**promo["metadata"], **p.get("metadata", {})}
        return 200, promo

    def _retrieve_invoice(self, invoice_id: str, p: dict) -> tuple[int, dict]:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            return 404, _error("resource_missing", f"No such invoice: '{invoice_id}'", "id")
        body = copy.deepcopy(invoice)
        if "discounts" in _expand_list(p):
            body["discounts"] = [copy.deepcopy(self.discounts.get(d, d)) if isinstance(d, str)
                                 else d for d in body.get("discounts") or []]
        return 200, body

    def _retrieve(self, store: dict[str, dict], kind: str, object_id: str
                  ) -> tuple[int, dict]:
        found = store.get(object_id)
        if found is None:
            return 404, _error("resource_missing", f"No such {kind}: '{object_id}'", "id")
        return 200, copy.deepcopy(found)

    def _list(self, path: str, store: dict[str, dict], p: dict) -> tuple[int, dict]:
        """Stripe's list: filters, newest first, `limit` per page after `starting_after`."""
        try:
            limit = int(p.get("limit") or 10)
        except ValueError:
            return 400, _error("parameter_invalid_integer", "Invalid integer: limit", "limit")
        if not 1 <= limit <= 100:
            return 400, _error("parameter_invalid_integer",
                               "This value must be between 1 and 100.", "limit")
        created = p.get("created") if isinstance(p.get("created"), dict) else {}
        rows = []
        for obj in store.values():
            if "gte" in created and obj.get("created", 0) < int(created["gte"]):
                continue
            if "lt" in created and obj.get("created", 0) >= int(created["lt"]):
                continue
            if p.get("status") and obj.get("status") != p["status"]:
                continue
            if p.get("payment_intent") and obj.get("payment_intent") != p["payment_intent"]:
                continue
            if p.get("charge") and obj.get("charge") != p["charge"]:
                continue
            wanted = (p.get("payment") or {}).get("payment_intent")
            if wanted and (obj.get("payment") or {}).get("payment_intent") != wanted:
                continue
            rows.append(obj)
        rows.sort(key=lambda o: (o.get("created", 0), o["id"]), reverse=True)
        after = p.get("starting_after")
        if after:
            ids = [o["id"] for o in rows]
            if after not in ids:
                return 400, _error("resource_missing", f"No such object: '{after}'",
                                   "starting_after")
            rows = rows[ids.index(after) + 1:]
        page = [copy.deepcopy(o) for o in rows[:limit]]
        if "data.discounts" in _expand_list(p):
            for obj in page:
                obj["discounts"] = [copy.deepcopy(self.discounts.get(d, d))
                                    if isinstance(d, str) else d
                                    for d in obj.get("discounts") or []]
        self.list_pages[path] = self.list_pages.get(path, 0) + 1
        return 200, {"object": "list", "data": page, "has_more": len(rows) > limit,
                     "url": path}

    def handle(self, method: str, path: str, key: str | None, params: dict
               ) -> tuple[int, dict, dict, float]:
        """(status, body, extra headers, seconds to hold the reply)."""
        with self._lock:
            failing = self._script.fail.get(path)
            if failing:
                status = failing.pop(0)
                self.requests.append(Recorded(method, path, key, params, status))
                return status, _error("api_error", "Scripted failure.", kind="api_error"), {}, 0
            if key and key in self._idem:
                stored_path, stored_params, status, body = self._idem[key]
                if (stored_path, stored_params) != (path, params):
                    self.requests.append(Recorded(method, path, key, params, 400))
                    return 400, _error(
                        "idempotency_error", "Keys for idempotent requests can only be used "
                        "with the same parameters they were first used with.",
                        kind="idempotency_error"), {}, 0
                self.requests.append(Recorded(method, path, key, params, status, True))
                return status, body, {"Idempotent-Replayed": "true"}, 0
            if (method, path) == ("POST", "/v1/coupons"):
                status, body = self._create_coupon(params)
            elif (method, path) == ("POST", "/v1/promotion_codes"):
                status, body = self._create_promotion_code(params)
            elif method == "POST" and (m := re.fullmatch(r"/v1/promotion_codes/([^/]+)", path)):
                status, body = self._update_promotion_code(m[1], params)
            elif method == "GET" and path in self._lists():
                status, body = self._list(path, self._lists()[path], params)
            elif method == "GET" and (m := re.fullmatch(r"/v1/invoices/([^/]+)", path)):
                status, body = self._retrieve_invoice(m[1], params)
            elif method == "GET" and (m := re.fullmatch(r"/v1/promotion_codes/([^/]+)", path)):
                status, body = self._retrieve(self.promotion_codes, "promotion code", m[1])
            elif method == "GET" and (m := re.fullmatch(r"/v1/charges/([^/]+)", path)):
                status, body = self._retrieve(self.charges, "charge", m[1])
            else:
                status, body = 404, _error("resource_missing", f"Unrecognized request URL "
                                           f"({method}: {path}).")
            if key and status < 500 and method == "POST":
                self._idem[key] = (path, params, status, body)
            self.requests.append(Recorded(method, path, key, params, status))
            hanging = self._script.hang.get(path)
            delay = hanging.pop(0) if hanging else 0
            return status, body, {}, delay

    def _lists(self) -> dict[str, dict[str, dict]]:
        return {"/v1/promotion_codes": self.promotion_codes,
                "/v1/checkout/sessions": self.checkout_sessions,
                "/v1/invoices": self.invoices, "/v1/refunds": self.refunds,
                "/v1/invoice_payments": self.invoice_payments}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                self._answer("POST", _unflatten(parse_qsl(raw, keep_blank_values=True)))

            def do_GET(self):  # noqa: N802
                query = self.path.split("?", 1)[1] if "?" in self.path else ""
                self._answer("GET", _unflatten(parse_qsl(query, keep_blank_values=True)))

            def _answer(self, method, params):
                status, body, headers, delay = fake.handle(
                    method, self.path.split("?")[0], self.headers.get("Idempotency-Key"),
                    params)
                if delay:
                    time.sleep(delay)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a scripted hang)

            def log_message(self, *args):
                pass

        return Handler


def _expand_list(params: dict) -> list[str]:
    """`expand[]=a` or `expand[0]=a` (how the SDK encodes a list) → ["a"]."""
    value = params.get("expand")
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, str):
        return [value]
    return list(value or [])


def _error(code: str, message: str, param: str | None = None,
           kind: str = "invalid_request_error") -> dict:
    err = {"type": kind, "code": code, "message": message}
    if param:
        err["param"] = param
    return {"error": err}

"""Stoplight Prism as a Twilio mock: a derived spec, a server manager, an HTTP client and fixtures.

No tests live here. Prism (npm ``@stoplight/prism-cli``, pinned in ``package.json``) serves Twilio's
own OpenAPI description of the 2010-04-01 API and checks every request the real ``twilio`` library
sends against it; see ``tests/twilio/README.md`` for the spec's source, version and licence.

Install Prism once per checkout with ``npm ci --ignore-scripts --no-audit --no-fund``.

The spec folder is ``tests/twilio`` in this repository unless ``HELPLINE_TWILIO_SPEC_DIR`` names another one.
It is read-only: :func:`derived_spec` writes its copy, with Twilio-shaped error responses added,
into a temporary directory.

The fixtures are plain functions decorated here; a test module (or later ``tests/conftest.py``)
registers them with one line::

    from prism import prism_server, prism_client_factory  # noqa: F401  (pytest fixtures)
"""

import copy
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union
from urllib.parse import urlsplit, urlunsplit

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

REPO = Path(__file__).resolve().parents[1]
PRISM_BIN = REPO / "node_modules" / ".bin" / "prism"
NPM_INSTALL = "npm ci --ignore-scripts --no-audit --no-fund"

SPEC_DIR_ENV = "HELPLINE_TWILIO_SPEC_DIR"
DEFAULT_SPEC_DIR = Path(__file__).resolve().parent / "twilio"
SPEC_NAME = "twilio_api_v2010.json"

MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"

START_TIMEOUT = 30.0  # seconds; Prism is usually ready in about 2 s

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2  # the shape Prism checks: AC + 32 hex digits
AUTH_TOKEN = "prism-test-token"  # any string: Prism only checks that Basic auth is present
SERVICE_SID = "MG" + "fedcba9876543210" * 2
MESSAGE_SID = "SM" + "00112233445566778899aabbccddeeff"

# --- the derived spec ------------------------------------------------------------------------

# Twilio's documented error texts (https://www.twilio.com/docs/api/errors).
TWILIO_ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number"),
    21408: (400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21612: (400, "The 'To' phone number is not currently reachable via SMS"),
    21614: (400, "'To' number is not a valid mobile number"),
}
CREATE_ERRORS = (21211, 21408, 21610, 21612, 21614)  # 400s that only Messages create answers
COMMON_ERRORS = (20003, 20429, 20500, 20503)  # 401, 429, 500, 503 on create, fetch and list

# Delivery failures: they arrive later on the message (fetch), never on create.
DELIVERY_ERRORS = {
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}

ERROR_SCHEMA_NAME = "helpline_test.twilio_error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Twilio's error body (added for tests; the official spec defines no error responses).",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer"},
    },
}
# Prism answers an invalid request with the 422 response if there is one, else with the first 400
# example, which would hide the validation failure behind a plausible Twilio error.
INVALID_REQUEST_BODY = {
    "code": 422,
    "message": "Prism: the request does not match Twilio's OpenAPI description; see the sl-violations header",
    "more_info": "https://docs.stoplight.io/docs/prism/",
    "status": 422,
}


def twilio_error(code: int) -> dict:
    """:returns: Twilio's JSON error body for the documented error ``code``."""
    status, message = TWILIO_ERRORS[code]
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def prefer(code: int, example: Optional[str] = None) -> str:
    """:returns: the ``Prefer`` header value that makes Prism answer ``code`` with a named example."""
    return f"code={code}" + (f", example={example}" if example else "")


def prefer_error(code: int) -> str:
    """:returns: the ``Prefer`` header for Twilio error ``code``, e.g. ``code=400, example=e21610``."""
    return prefer(TWILIO_ERRORS[code][0], f"e{code}")


def spec_dir() -> Path:
    """The folder that holds Twilio's spec (``HELPLINE_TWILIO_SPEC_DIR`` overrides the default)."""
    return Path(os.environ.get(SPEC_DIR_ENV) or DEFAULT_SPEC_DIR)


def official_spec_path() -> Path:
    path = spec_dir() / SPEC_NAME
    if not path.is_file():
        pytest.fail(f"Twilio's OpenAPI spec is missing: {path} (set {SPEC_DIR_ENV} to the folder that holds "
                    f"{SPEC_NAME})", pytrace=False)
    return path


def _error_response(description: str, examples: Mapping[str, dict]) -> dict:
    return {
        "description": description,
        "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"},
            "examples": {name: {"value": body} for name, body in examples.items()},
        }},
    }


def _add_errors(operation: dict, codes) -> None:
    """Add Twilio error responses for ``codes`` (named ``e<code>``), grouped by HTTP status, and a 422."""
    responses = operation["responses"]
    for code in codes:
        status = str(TWILIO_ERRORS[code][0])
        response = responses.setdefault(status, _error_response(f"Twilio error ({status})", {}))
        response["content"]["application/json"]["examples"][f"e{code}"] = {"value": twilio_error(code)}
    # For an invalid request Prism looks up the Prefer example name in the 422 response, and without
    # it answers a bare 404 with no sl-violations header; so the 422 carries every 400 example name.
    names = ["invalid"] + list(responses.get("400", {}).get("content", {}).get("application/json", {})
                               .get("examples", {}))
    responses["422"] = _error_response("The request does not match the spec (Prism's validation; tests only)",
                                       {name: INVALID_REQUEST_BODY for name in names})


def _message_examples(base: dict) -> dict:
    """Named fetch examples built on the spec's own 200 example, with delivery outcomes."""
    def message(status, error_code=None):
        return dict(copy.deepcopy(base), status=status, error_code=error_code,
                    error_message=DELIVERY_ERRORS.get(error_code))

    examples = {"delivered": message("delivered"), "undelivered": message("undelivered", 30003),
                "failed": message("failed", 30008)}
    for code in DELIVERY_ERRORS:
        examples[f"undelivered{code}"] = message("undelivered", code)
        examples[f"failed{code}"] = message("failed", code)
    return {name: {"value": value} for name, value in examples.items()}


def derive_spec(spec: dict) -> dict:
    """:returns: a copy of Twilio's spec with error responses and delivery examples for Messages."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    assert ERROR_SCHEMA_NAME not in schemas, f"the official spec now defines {ERROR_SCHEMA_NAME}"
    schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA

    create = spec["paths"][MESSAGES]["post"]
    listing = spec["paths"][MESSAGES]["get"]
    fetch = spec["paths"][MESSAGE]["get"]
    for operation in (create, listing, fetch):
        assert not any(status.startswith(("4", "5")) for status in operation["responses"]), (
            f"{operation['operationId']} now has error responses in the official spec: revisit derive_spec")

    _add_errors(create, CREATE_ERRORS + COMMON_ERRORS)
    _add_errors(listing, COMMON_ERRORS)
    _add_errors(fetch, COMMON_ERRORS + (20404,))

    content = fetch["responses"]["200"]["content"]["application/json"]
    base = content["examples"]["fetch"]["value"]
    # "fetch" stays first, so it remains Prism's default answer.
    content["examples"].update(_message_examples(base))

    # The list examples all point to a next page; twilio's list() stops at `limit=` (always pass it).
    return spec


def derived_spec(tmp_dir: Union[str, Path]) -> Path:
    """Write the derived spec (see :func:`derive_spec`) into ``tmp_dir`` and return its path."""
    source = official_spec_path()
    spec = json.loads(source.read_text(encoding="utf-8"))
    target = Path(tmp_dir) / "twilio_api_v2010.derived.json"
    target.write_text(json.dumps(derive_spec(spec), ensure_ascii=False), encoding="utf-8")
    return target


# --- the server ------------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def prism_bin() -> Path:
    """The installed Prism; fails (never skips) when ``npm ci`` has not been run."""
    if not PRISM_BIN.exists():
        pytest.fail(f"Prism is not installed ({PRISM_BIN} is missing): run `{NPM_INSTALL}` in {REPO}",
                    pytrace=False)
    return PRISM_BIN


class PrismServer:
    """``prism mock`` on a free loopback port, in its own process group; a context manager.

    Its output goes to ``log_path`` (a file, so that a chatty Prism can never block on a full pipe).
    """

    host = "127.0.0.1"

    def __init__(self, spec: Path, log_path: Path, timeout: float = START_TIMEOUT):
        self.spec = Path(spec)
        self.log_path = Path(log_path)
        self.timeout = timeout
        self.process: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.startup_seconds: Optional[float] = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, attempts: int = 3) -> "PrismServer":
        binary = prism_bin()
        outcome = ""
        for attempt in range(1, attempts + 1):
            self.port = free_port(self.host)
            started = time.monotonic()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [str(binary), "mock", "-h", self.host, "-p", str(self.port), str(self.spec)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                    start_new_session=True)  # own process group: stop() kills node and any children
            if self._wait_ready(started + self.timeout):
                self.startup_seconds = time.monotonic() - started
                return self
            returncode = self.process.poll()
            outcome = (f"exited with code {returncode}" if returncode is not None
                       else f"did not answer within {self.timeout:.0f} s")
            self.stop()
            # Another process may have taken the port between free_port() and Prism's listen().
            if not (returncode is not None and "EADDRINUSE" in self.log() and attempt < attempts):
                break
        pytest.fail(f"Prism ({self.base_url}, spec {self.spec}) {outcome}; its output ({self.log_path}):\n"
                    f"{self.log()[-5000:]}", pytrace=False)

    def _wait_ready(self, deadline: float) -> bool:
        """Poll until Prism answers with any HTTP status (it answers 404 for ``/``)."""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            connection = http.client.HTTPConnection(self.host, self.port, timeout=1)
            try:
                connection.request("GET", "/")
                connection.getresponse().read()
                return True
            except OSError:  # refused, reset or timed out: not listening yet
                time.sleep(0.1)
            finally:
                connection.close()
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        if process.poll() is None:
            process.wait(timeout=5)
        try:  # members of the group that outlived node itself
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "PrismServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


# --- the client ------------------------------------------------------------------------------

# Twilio's magic test numbers (https://www.twilio.com/docs/iam/test-credentials) mapped to examples.
MAGIC_TO = {
    "+15005550001": prefer_error(21211),
    "+15005550002": prefer_error(21612),
    "+15005550003": prefer_error(21408),
    "+15005550004": prefer_error(21610),
    "+15005550009": prefer_error(21614),
    # Not Twilio's: this project's own numbers for the errors that are not about the recipient.
    "+15005550401": prefer_error(20003),
    "+15005550429": prefer_error(20429),
    "+15005550500": prefer_error(20500),
    "+15005550503": prefer_error(20503),
}

PreferChooser = Union[None, str, Mapping[str, str], Callable[..., Optional[str]]]


@dataclass
class Exchange:
    """One request sent through :class:`PrismHttpClient` and what Prism said about it."""

    method: str
    url: str
    params: Optional[dict]
    data: Optional[dict]
    prefer: Optional[str]
    status: int
    violations: list = field(default_factory=list)
    problem: Optional[dict] = None  # Prism's own application/problem+json answer, e.g. no such path


    @property
    def request_violations(self) -> list:
        return [v for v in self.violations if (v.get("location") or [None])[0] == "request"]


class PrismHttpClient(TwilioHttpClient):
    """The twilio library's documented HTTP hook (``Client(sid, token, http_client=...)``) for Prism.

    Every request goes to ``base_url`` instead of Twilio (scheme and host:port swapped, path and
    query kept). ``prefer`` picks Prism's answer per request, because ``create()`` and ``fetch()``
    take no headers:

    - a string: the ``Prefer`` header of every request, e.g. ``"code=400, example=e21610"``;
    - a mapping from the ``To`` number (form data or query) to a ``Prefer`` value, e.g.
      :data:`MAGIC_TO`; other numbers send no ``Prefer``;
    - a callable ``(method, url, params, data) -> str | None``.

    Each response's ``sl-violations`` header (and any answer Prism generated itself, as
    ``application/problem+json``) is recorded in :attr:`exchanges`; :attr:`request_violations` and
    :meth:`assert_no_request_violations` read them.
    """

    def __init__(self, base_url: str, prefer: PreferChooser = None, **kwargs):
        kwargs.setdefault("timeout", 30)
        super().__init__(**kwargs)
        self.base_url = base_url
        self.prefer = prefer
        self.exchanges: list[Exchange] = []

    def choose_prefer(self, method, url, params, data) -> Optional[str]:
        chooser = self.prefer
        if chooser is None or isinstance(chooser, str):
            return chooser
        if isinstance(chooser, Mapping):
            to = (data or {}).get("To") or (params or {}).get("To")
            return chooser.get(to) if isinstance(to, str) else None
        return chooser(method, url, params, data)

    def to_prism(self, url: str) -> str:
        target, prism = urlsplit(url), urlsplit(self.base_url)
        return urlunsplit((prism.scheme, prism.netloc, target.path, target.query, target.fragment))

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        url = self.to_prism(url)
        headers = dict(headers or {})
        chosen = self.choose_prefer(method, url, params, data)
        if chosen:
            headers["Prefer"] = chosen
        response = super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                                   timeout=timeout, allow_redirects=allow_redirects)
        response_headers = response.headers or {}
        raw = response_headers.get("sl-violations")
        problem = None
        if response_headers.get("content-type", "").startswith("application/problem+json"):
            try:
                problem = json.loads(response.text)
            except ValueError:
                problem = {"detail": response.text}
        self.exchanges.append(Exchange(method.upper(), url, params, data, chosen, response.status_code,
                                       json.loads(raw) if raw else [], problem))
        return response

    @property
    def violations(self) -> list:
        """Every violation Prism reported, in order (request and response ones)."""
        return [v for exchange in self.exchanges for v in exchange.violations]

    @property
    def request_violations(self) -> list:
        """The violations with ``location[0] == "request"``: what the client sent did not fit the spec."""
        return [v for exchange in self.exchanges for v in exchange.request_violations]

    @property
    def problems(self) -> list:
        """Prism's own error answers (``application/problem+json``): no such path, no such example..."""
        return [exchange.problem for exchange in self.exchanges if exchange.problem]

    def assert_no_request_violations(self) -> None:
        """Fail unless every request reached Prism, matched the spec and got an answer from it."""
        assert self.exchanges, "no request reached Prism"
        bad = [(e.method, e.url, e.request_violations or e.problem) for e in self.exchanges
               if e.request_violations or e.problem]
        assert not bad, f"Prism found requests that do not match Twilio's spec: {bad}"


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def prism_server(tmp_path_factory):
    """A running Prism that serves the derived Twilio spec, for the whole test session."""
    folder = tmp_path_factory.mktemp("prism")
    with PrismServer(derived_spec(folder), folder / "prism.log") as server:
        yield server


@pytest.fixture
def prism_client_factory(prism_server):
    """``make(prefer=None, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) -> twilio Client``.

    The client's ``http_client`` is a :class:`PrismHttpClient`. At teardown every client made here
    must have sent only requests that match the spec, unless it was made with
    ``expect_request_violations=True``.
    """
    made = []

    def make(prefer: PreferChooser = None, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
             expect_request_violations: bool = False) -> Client:
        http = PrismHttpClient(prism_server.base_url, prefer=prefer)
        made.append((http, expect_request_violations))
        return Client(account_sid, auth_token, http_client=http)

    yield make
    for http, expected in made:
        if not expected and http.exchanges:
            http.assert_no_request_violations()


class PrismRelay:
    """An HTTP relay in the test process between a helpline subprocess and Prism.

    The subprocess is configured with ``[sms] api_base_url = relay.base_url``; the relay forwards
    each request unchanged (adding ``Prefer`` from ``prefer``, a mapping from the To number as in
    :class:`PrismHttpClient`) and records Prism's ``sl-violations`` so the test can assert none.
    """

    def __init__(self, prism_base_url: str, prefer: Optional[Mapping[str, str]] = None):
        import http.server
        import threading
        import urllib.error
        import urllib.parse
        import urllib.request

        relay = self
        self.exchanges: list = []
        self.prefer = prefer or {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                form = dict(urllib.parse.parse_qsl(body.decode())) if body else {}
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                to = form.get("To") or query.get("To")
                chosen = relay.prefer.get(to) if to else None
                if chosen:
                    headers["Prefer"] = chosen
                request = urllib.request.Request(prism_base_url + self.path, data=body, headers=headers,
                                                 method=self.command)
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, answer_headers, payload = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, answer_headers, payload = error.code, error.headers, error.read()
                raw = answer_headers.get("sl-violations")
                relay.exchanges.append(Exchange(self.command, self.path, query, form, chosen, status,
                                                json.loads(raw) if raw else [], None))
                self.send_response(status)
                for name in ("Content-Type",):
                    if answer_headers.get(name):
                        self.send_header(name, answer_headers.get(name))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def assert_no_request_violations(self) -> None:
        assert self.exchanges, "no request reached Prism"
        bad = [(e.method, e.url, e.request_violations) for e in self.exchanges if e.request_violations]
        assert not bad, f"Prism found requests that do not match Twilio's spec: {bad}"

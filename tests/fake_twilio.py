"""A loopback stand-in for Twilio's Messages API, for what Prism cannot play: an answer that
comes too late. No tests live here.

``SlowTwilio`` takes ``POST .../Messages.json`` and keeps the message (Twilio has it), then holds
its 201 until the client has given up waiting (the client closes the connection at its read
time-out) and only then writes it: the 201 arrives after the time-out. ``GET .../Messages.json``
lists the messages it holds, newest first, as Twilio's list does (filtered on ``To``), so a
reconcile query finds them; ``GET .../Messages/SID.json`` answers one message (``statuses``
sets its delivery status), as ``sms sync`` asks. The server runs in a thread of the test process on 127.0.0.1.
"""

import json
import threading
from datetime import timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOLD_LIMIT_SECONDS = 20.0  # a safety net only: the client's time-out ends each hold long before


class SlowTwilio:
    """:param created_at: aware datetime reported as each message's ``date_created`` (the test's clock).
    :param late: how many of the first POSTs answer after the client's time-out (the rest at once).

    ``posts`` lists the form data of every POST received; ``lists`` the query of every list GET;
    ``fetches`` the SID of every one-message GET.
    """

    def __init__(self, created_at, late=1):
        self.created_at, self.late = created_at, late
        self.posts, self.lists, self.messages, self.fetches = [], [], [], []
        self.statuses = {}  # sid -> fields a status fetch answers with, e.g. {"status": "undelivered"}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                with fake.lock:
                    fake.posts.append(form)
                    late = len(fake.posts) <= fake.late
                    message = fake._message(form)
                    fake.messages.insert(0, message)
                if late:  # wait until the client hangs up (its time-out), then answer anyway
                    self.connection.settimeout(HOLD_LIMIT_SECONDS)
                    try:
                        while self.connection.recv(1024):
                            pass
                    except OSError:
                        pass
                self._answer(201, message)

            def do_GET(self):
                path = urlsplit(self.path).path
                if not path.endswith("/Messages.json"):  # one message: its delivery status
                    sid = path.rsplit("/", 1)[-1].removesuffix(".json")
                    with fake.lock:
                        fake.fetches.append(sid)
                        found = [dict(m, **fake.statuses.get(sid, {})) for m in fake.messages if m["sid"] == sid]
                    self._answer(200, found[0]) if found else self._answer(404, {"code": 20404, "status": 404})
                    return
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                with fake.lock:
                    fake.lists.append(query)
                    found = [m for m in fake.messages if "To" not in query or m["to"] == query["To"]]
                size = int(query.get("PageSize", 50))
                self._answer(200, {"messages": found[:size], "next_page_uri": None, "page": 0, "page_size": size,
                                   "uri": urlsplit(self.path).path})

            def _answer(self, status, payload):
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client hung up before the answer: as on a real network
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _message(self, form):
        number = len(self.posts)
        return {"sid": f"SM{number:032x}", "account_sid": "AC" + "0" * 32, "to": form.get("To"),
                "from": form.get("From"), "body": form.get("Body"), "status": "queued",
                "date_created": format_datetime(self.created_at.astimezone(timezone.utc), usegmt=True), "date_sent": None,
                "error_code": None, "error_message": None, "num_segments": "1", "direction": "outbound-api",
                "api_version": "2010-04-01", "uri": f"/2010-04-01/Accounts/AC/Messages/SM{number:032x}.json"}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

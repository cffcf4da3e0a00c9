"""The IVR's web side: a plain WSGI app for Twilio's voice webhooks, served by waitress.

Only ``helpline ivr serve`` imports this module (and through it twilio's TwiML and waitress):
no other command pays for them.

Every request must carry a valid ``X-Twilio-Signature`` (twilio's ``RequestValidator``, with
the account's auth token, over ``[ivr] public_url`` + the path + the query string and the
POSTed fields): anything else gets 403, is logged, and changes nothing. A signed request
always gets TwiML with status 200, even when the store is locked or damaged (see ``ivr.answer``).
"""

import logging
import os
from urllib.parse import parse_qsl

from .clock import utcnow
from .words import plural

MAX_BODY_BYTES = 64 * 1024
FALLBACK_TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-IN">'
                  'Sorry, please hold for an operator.</Say>{dial}</Response>')

log = logging.getLogger("helpline.ivr")


def auth_token(config, environ=None):
    """:returns: the Twilio auth token that signs the webhooks: ``$TWILIO_AUTH_TOKEN``, else the
    ``[sms] credentials_file``. :raises ConfigError: when neither has one."""
    from .errors import ConfigError
    from .gateways import _twilio_credentials

    environ = os.environ if environ is None else environ
    if environ.get("TWILIO_AUTH_TOKEN"):
        return environ["TWILIO_AUTH_TOKEN"]
    sms = config.raw.get("sms", {})
    if not sms.get("credentials_file"):
        raise ConfigError("the IVR checks Twilio's signature with the auth token: set TWILIO_AUTH_TOKEN, or "
                          "credentials_file under [sms] in config.toml.")
    return _twilio_credentials(sms, {})[1]


def _fallback(settings):
    """TwiML that needs neither the store nor the templates: to the desk, in English."""
    from xml.sax.saxutils import escape

    if settings.queue:
        dial = f"<Enqueue>{escape(settings.queue)}</Enqueue>"
    else:
        dial = f"<Dial><Number>{escape(settings.desk_numbers[0])}</Number></Dial>"
    return FALLBACK_TWIML.format(dial=dial)


class HeardWriter:
    """Writes the ``ivr`` history events of tickets read out, off the caller's path: a webhook
    hands them over (``add``) and answers at once; one thread writes everything pending in one
    store transaction, and keeps what a locked store refused for the next try.

    A server stopped by SIGTERM or Ctrl-C writes what is pending before it exits (``close``);
    the day log has every call even if a power cut loses pending events.
    """

    RETRY_SECONDS = 0.5

    def __init__(self, store, data_dir, clock=utcnow):
        import threading

        self.store, self.data_dir, self.clock = store, data_dir, clock
        self.pending = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = False
        self.thread = None

    def add(self, heard):
        """:param heard: ``[(serial, note, at)]``."""
        with self.lock:
            self.pending.extend(heard)
        self.wake.set()

    def flush(self):
        """Write everything pending now. :returns: True when nothing is left pending."""
        from . import ivr
        from .errors import StoreDamaged, StoreLocked
        from .ivr_records import log_problem

        with self.lock:
            batch, self.pending = self.pending, []
        if not batch:
            return True
        try:
            ivr.write_heard(self.store, self.clock(), batch)
            return True
        except StoreLocked:
            with self.lock:
                self.pending[:0] = batch
            return False
        except (StoreDamaged, OSError) as error:
            with self.lock:
                self.pending[:0] = batch[-10_000:]
            log_problem(self.data_dir, self.clock(), "store-damaged", f"ivr events not written yet: {error}")
            return False

    def start(self):
        import threading

        def run():
            while not self.stopping:
                self.wake.wait()
                self.wake.clear()
                if not self.flush() and not self.stopping:
                    self.wake.wait(self.RETRY_SECONDS)
                    self.wake.set()

        self.thread = threading.Thread(target=run, name="ivr-events", daemon=True)
        self.thread.start()

    def close(self):
        """Stop the thread and write what is pending; what a still locked store refuses is logged
        as a problem (the day log keeps the calls)."""
        from .ivr_records import log_problem

        self.stopping = True
        self.wake.set()
        if self.thread:
            self.thread.join(timeout=30)
        if not self.flush():
            log_problem(self.data_dir, self.clock(), "store-locked",
                        f"{plural(len(self.pending), 'ivr history event')} not written at shutdown")


def webhook_store(data_dir, config):
    """:returns: the ``Store`` webhooks use: the lock waited for at most ``[ivr] lock_wait_seconds``."""
    from .ivr_records import IvrSettings
    from .store import Store

    return Store(data_dir, lock_timeout_seconds=IvrSettings(config).lock_wait_seconds)


def make_app(data_dir, config, token, clock=utcnow, heard_writer=None):
    """Build the WSGI app.

    :param data_dir: the district's data directory. :param config: its loaded ``Config``.
    :param token: the Twilio auth token (``auth_token``). :param clock: ``() -> aware UTC``.
    :param heard_writer: a started ``HeardWriter`` (the server's); None writes each webhook's
        ``ivr`` events before it answers.
    :returns: a WSGI callable. :raises ConfigError: when ``[ivr]`` cannot answer calls.
    """
    from twilio.request_validator import RequestValidator

    from . import ivr
    from .ivr_records import IvrSettings, log_problem

    settings = IvrSettings(config)
    settings.check_ready()
    config.tz  # loaded once here: first loads from several worker threads at once can fail ("unknown time zone")
    validator = RequestValidator(token)
    store = webhook_store(data_dir, config)

    def app(environ, start_response):
        def reply(status, body, content_type="text/xml; charset=utf-8"):
            payload = body.encode("utf-8")
            start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(payload)))])
            return [payload]

        now = clock()
        if environ.get("REQUEST_METHOD") != "POST":
            return reply("405 Method Not Allowed", "POST only\n", "text/plain; charset=utf-8")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            return reply("413 Payload Too Large", "too large\n", "text/plain; charset=utf-8")
        body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        path = environ.get("PATH_INFO", "") or "/"
        query_string = environ.get("QUERY_STRING", "")
        url = settings.public_url + path + (f"?{query_string}" if query_string else "")
        signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")
        if not signature or not validator.validate(url, form, signature):
            detail = f"{'no' if not signature else 'wrong'} signature for {path} from {environ.get('REMOTE_ADDR', '?')}"
            log.warning("refused: %s", detail)
            try:
                log_problem(data_dir, now, "bad-signature", detail)
            except OSError:
                pass
            return reply("403 Forbidden", "invalid signature\n", "text/plain; charset=utf-8")
        step = path.strip("/").rsplit("/", 1)[-1]
        query = dict(parse_qsl(query_string))
        try:
            twiml = ivr.answer(store, config, settings, now, step, form, query,
                               on_problem=lambda kind, detail: log.error("%s: %s", kind, detail),
                               heard_sink=heard_writer.add if heard_writer else None)
        except Exception as error:  # even the apology failed (a broken prompt): still the desk
            log.exception("answer failed")
            try:
                log_problem(data_dir, now, "error", f"{step}: {type(error).__name__}: {error}")
            except OSError:
                pass
            twiml = _fallback(settings)
        return reply("200 OK", twiml)

    return app


def serve(data_dir, config, token, host, port, threads=8, on_ready=None):
    """Serve the IVR with waitress until SIGTERM or Ctrl-C; then write the pending ``ivr`` events.

    :param on_ready: ``f(host, port)`` once listening (the port chosen when ``port`` is 0).
    :raises ConfigError: as ``make_app``.
    """
    import signal

    from waitress.server import create_server

    writer = HeardWriter(webhook_store(data_dir, config), data_dir)
    app = make_app(data_dir, config, token, heard_writer=writer)
    server = create_server(app, host=host, port=port, threads=threads, ident="helpline-ivr")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    writer.start()
    if on_ready:
        on_ready(server.effective_host, server.effective_port)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        writer.close()

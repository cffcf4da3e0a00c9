"""SMS gateways: ``file`` (the default: no account needed) and ``twilio`` (the real library).

Every gateway's ``send`` returns an ``Outcome`` and never raises for a delivery problem; the
kinds follow Twilio's documented error codes (https://www.twilio.com/docs/api/errors):

==============  ====================================================  ==========================
kind            Twilio says                                            what the outbox does
==============  ====================================================  ==========================
``sent``        201 with a message SID                                 sent
``permanent``   21211 invalid To, 21612 cannot route, 21614 not a      failed, phone flagged
                mobile (and any other 4xx for that message)
``opted_out``   21610 the recipient replied STOP                       failed, number opted out
``account``     20003 authentication (HTTP 401), 21408 no permission   the run stops at once
                for the region, 21606 sender not valid
``temporary``   HTTP 429 / 20429, 5xx, no connection made             retried with back-off
``unknown``     no answer after the request was written: a read       ``unknown``: Twilio is asked
                time-out, a connection reset or closed mid-answer      (``find_sent``) before any
                                                                       resend; resent only if it
                                                                       never got the text
==============  ====================================================  ==========================

A 201 can arrive after the client stopped waiting: resending blindly then texts the caller twice.
"""

import json
import os
import stat
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError

PERMANENT_CODES = {21211: "invalid number", 21612: "cannot route to this number", 21614: "not a mobile number"}
OPTED_OUT_CODES = {21610: "the recipient replied STOP (opted out)"}
ACCOUNT_CODES = {20003: "authentication failed", 21408: "no permission to send to this region",
                 21606: "the sender number is not valid for this account"}
# Delivery failures arrive later, on the message (sms sync): Twilio error codes 30003-30008.
DELIVERY_CODES = {30003: "phone unreachable or switched off", 30004: "message blocked", 30005: "unknown phone number",
                  30006: "landline or unreachable carrier", 30007: "filtered as spam by the carrier",
                  30008: "unknown delivery error"}


class Outcome(NamedTuple):
    """What one gateway call came to. ``kind``: sent, permanent, opted_out, account, temporary, unknown."""

    kind: str  # sent, permanent, opted_out, account, temporary, unknown
    gateway_id: str = None
    error_code: int = None
    error: str = None


class Status(NamedTuple):
    """A message's delivery status from the gateway (``sms sync``)."""

    state: str  # sent, delivered, undelivered, failed
    error_code: int = None
    error: str = None


def classify_twilio_error(status, code, message):
    """Map an HTTP status and Twilio error code to an ``Outcome`` (table in the module docstring)."""
    code = int(code) if code is not None else None
    text = f"{code or status}: {message}" if message else str(code or status)
    if code in OPTED_OUT_CODES:
        return Outcome("opted_out", error_code=code, error=f"{code}: {OPTED_OUT_CODES[code]}")
    if code in ACCOUNT_CODES or status == 401:
        return Outcome("account", error_code=code or 20003, error=f"{code or 20003}: {ACCOUNT_CODES.get(code or 20003)}")
    if status == 429 or code == 20429 or (status is not None and status >= 500):
        return Outcome("temporary", error_code=code, error=text)
    if code in PERMANENT_CODES:
        return Outcome("permanent", error_code=code, error=f"{code}: {PERMANENT_CODES[code]}")
    return Outcome("permanent", error_code=code, error=text)


def request_was_written(error):
    """:returns: False only when ``error`` shows the request never left (no connection was made:
    refused, DNS, a connect time-out, TLS); True for a read time-out, a reset or a closed
    connection after the request was written, and for anything not known to be harmless, so
    that the caller asks the gateway before sending again."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, NameResolutionError

    if isinstance(error, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError,
                          requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return False
    seen, cause = set(), error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (NewConnectionError, ConnectTimeoutError, NameResolutionError, ConnectionRefusedError)):
            return False
        nested = [a for a in getattr(cause, "args", ()) if isinstance(a, BaseException)]
        cause = getattr(cause, "reason", None) or (nested[0] if nested else None) or cause.__cause__ or cause.__context__
    return True


class FileGateway:
    """Appends each message as one JSON line to ``outbox.jsonl`` in the data directory.

    Lets helpline run with no account; ``sms sync`` reports file messages as delivered. A text that
    matched its DLT registration carries ``dlt_template_id``, ``dlt_entity_id`` and ``sender`` too,
    so a relay to an Indian provider (which needs them) can send it.
    """

    name = "file"

    def __init__(self, data_dir):
        self.path = Path(data_dir) / "outbox.jsonl"

    def send(self, record, now):
        """Append and fsync one line. :returns: ``Outcome("sent", "file-<key>")``."""
        from .clock import to_iso

        fields = {"key": record["key"], "to": record["recipient"], "body": record["body"],
                  "encoding": record["encoding"], "segments": record["segments"], "at": to_iso(now)}
        for name in ("dlt_template_id", "dlt_entity_id", "sender"):
            if record.get(name):
                fields[name] = record[name]
        line = json.dumps(fields, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return Outcome("sent", gateway_id=f"file-{record['key']}")

    def find_sent(self, record, since):
        """:returns: the gateway ID if the file already holds this message (after a crash), else None."""
        if not self.path.exists():
            return None
        needle = json.dumps(record["key"], ensure_ascii=False)
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if needle in line and json.loads(line).get("key") == record["key"]:
                    return f"file-{record['key']}"
        return None

    def fetch_status(self, gateway_id):
        return Status("delivered")


class TwilioGateway:
    """Sends through the official ``twilio`` library (imported only here).

    :param client: a ``twilio.rest.Client``. :param sender: ``{"from_": "+1..."}`` or
        ``{"messaging_service_sid": "MG..."}``. :param timeout_seconds: per HTTP call.
    """

    name = "twilio"

    def __init__(self, client, sender, list_limit=20):
        self.client = client
        self.sender = sender
        self.list_limit = list_limit

    def send(self, record, now):
        """One ``messages.create``. :returns: an ``Outcome``; never raises for Twilio or network errors.

        A text that matched its DLT registration goes from the registered sender (``record["sender"]``,
        the DLT header) instead of the configured one; Twilio's API has no field for the template or
        entity ID (Twilio matches the body against the templates registered with it).
        """
        from twilio.base.exceptions import TwilioRestException

        sender = dict(self.sender, from_=record["sender"]) if record.get("sender") else self.sender
        try:
            message = self.client.messages.create(to=record["recipient"], body=record["body"], **sender)
        except TwilioRestException as error:
            return classify_twilio_error(error.status, error.code, error.msg)
        except Exception as error:  # the network, not the message
            text = f"{type(error).__name__}: {error}"[:300]
            if request_was_written(error):
                return Outcome("unknown", error=f"no answer from Twilio, it may have the text: {text}"[:300])
            return Outcome("temporary", error=text)
        return Outcome("sent", gateway_id=message.sid)

    def find_sent(self, record, since):
        """After a crash or a time-out: Twilio's latest messages to the recipient (newest first,
        ``list_limit`` of them), looking for this text created since the attempt (a minute's slack
        for clocks). Not filtered on DateSent: a message Twilio still holds ``queued`` has none.

        :param since: aware UTC of the attempt. :returns: the SID of a message with the same body, or None.
        :raises Exception: when Twilio cannot be asked (the message then stays ``unknown``).
        """
        from datetime import timedelta

        earliest = since - timedelta(minutes=1)
        for message in self.client.messages.list(to=record["recipient"], limit=self.list_limit):
            created = message.date_created
            if message.body == record["body"] and (created is None or created >= earliest):
                return message.sid
        return None

    def fetch_status(self, gateway_id):
        """:returns: a ``Status`` from ``messages(sid).fetch()``; Twilio's 30003-30008 kept."""
        message = self.client.messages(gateway_id).fetch()
        status = str(message.status)
        code = int(message.error_code) if message.error_code not in (None, "") else None
        if status in ("delivered", "read"):
            return Status("delivered")
        if status in ("undelivered", "failed"):
            return Status(status, code, DELIVERY_CODES.get(code, message.error_message or f"error {code}"))
        return Status("sent")


def _twilio_credentials(sms, environ):
    sid, token = environ.get("TWILIO_ACCOUNT_SID"), environ.get("TWILIO_AUTH_TOKEN")
    if sid and token:
        return sid, token
    path = sms.get("credentials_file")
    if not path:
        raise ConfigError("the twilio gateway needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, "
                          "or credentials_file in [sms] of config.toml.")
    path = Path(path).expanduser()
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        raise ConfigError(f"credentials file {path} cannot be read.") from None
    if mode & 0o077:
        raise ConfigError(f"credentials file {path} is readable by others (mode {mode:o}); run chmod 600 {path}.")
    import tomllib

    try:
        with open(path, "rb") as f:
            creds = tomllib.load(f)
        return creds["account_sid"], creds["auth_token"]
    except (tomllib.TOMLDecodeError, KeyError):
        raise ConfigError(f"credentials file {path} needs account_sid and auth_token (TOML).") from None


def _relay_client(base_url, timeout):
    """A ``TwilioHttpClient`` that sends every API request to ``base_url`` (scheme and host swapped,
    path kept): for a relay in front of Twilio, or a Twilio-compatible mock (``[sms] api_base_url``)."""
    from urllib.parse import urlsplit, urlunsplit

    from twilio.http.http_client import TwilioHttpClient

    target = urlsplit(base_url)

    class RelayHttpClient(TwilioHttpClient):
        def request(self, method, url, *args, **kwargs):
            parts = urlsplit(url)
            url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
            return super().request(method, url, *args, **kwargs)

    return RelayHttpClient(timeout=timeout)


def make_gateway(config, data_dir, environ=None, http_client=None):
    """Build the gateway named in ``[sms] gateway`` (the one factory; tests pass ``http_client``).

    :param environ: where credentials are read from (default ``os.environ``).
    :param http_client: a ``twilio.http.HttpClient`` for the twilio gateway (default: the library's,
        with ``timeout_seconds`` from config).
    :raises ConfigError: unknown gateway, missing credentials or sender. The auth token is never
        put in a message.
    """
    sms = config.raw.get("sms", {})
    name = sms.get("gateway", "file")
    if name == "file":
        return FileGateway(data_dir)
    if name != "twilio":
        raise ConfigError(f"unknown SMS gateway '{name}' in config.toml; use \"file\" or \"twilio\".")
    environ = os.environ if environ is None else environ
    sid, token = _twilio_credentials(sms, environ)
    if sms.get("messaging_service_sid"):
        sender = {"messaging_service_sid": sms["messaging_service_sid"]}
    elif sms.get("from"):
        sender = {"from_": sms["from"]}
    else:
        raise ConfigError('the twilio gateway needs [sms] from = "+1..." or messaging_service_sid = "MG..." in config.toml.')
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    if http_client is None:
        timeout = float(sms.get("timeout_seconds", 10))
        base_url = sms.get("api_base_url")
        http_client = _relay_client(base_url, timeout) if base_url else TwilioHttpClient(timeout=timeout)
    return TwilioGateway(Client(sid, token, http_client=http_client), sender,
                         list_limit=int(sms.get("reconcile_limit", 20)))

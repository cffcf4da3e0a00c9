"""Shared by the IVR tests: a district with the voice menu on, and Twilio's side of a call
(signed form POSTs exactly as Twilio sends them, TwiML parsed back)."""

import io
import xml.etree.ElementTree as ET
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

TOKEN = "12345678901234567890123456789012"
PUBLIC_URL = "https://helpline.example.org/ivr"
AUDIO_UR = "https://helpline.example.org/ivr-audio/ur/"
DESK = ["+911942450001", "+911942450002"]
TO = "+911942450000"
IVR_CONFIG = f"""
[ivr]
enabled = true
public_url = "{PUBLIC_URL}"
languages = ["hi", "ur", "en"]
desk_numbers = {DESK!r}
callback_sla_minutes = 30
callback_area = "Khanyar"
[ivr.voices]
hi = "Polly.Aditi"
en = "Polly.Raveena"
[ivr.audio]
ur = "{AUDIO_UR}"
""".replace("'", '"')


def enable_ivr(data_dir, **settings):
    """Append the ``[ivr]`` section (plus ``settings``, TOML values) to the district's config.toml.

    :returns: the reloaded config."""
    from helpline_core.config import load_config

    extra = "".join(f"{key} = {value}\n" for key, value in settings.items())
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8") + IVR_CONFIG.replace("enabled = true\n", "enabled = true\n" + extra),
                    encoding="utf-8")
    return load_config(data_dir)


def call_sid(n=1):
    return "CA" + f"{n:032x}"


def sign(url, form, token=TOKEN):
    return RequestValidator(token).compute_signature(url, form)


def environ_for(url, form, signature):
    """A WSGI environ for a POST to ``url`` (a public URL) as the proxy hands it on."""
    parts = urlsplit(url)
    body = urlencode(form).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": parts.path[len(urlsplit(PUBLIC_URL).path):],
               "QUERY_STRING": parts.query, "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE":
               "application/x-www-form-urlencoded", "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "wsgi.url_scheme": "http"}
    if signature is not None:
        environ["HTTP_X_TWILIO_SIGNATURE"] = signature
    return environ


def post(app, url, form, signature="sign"):
    """POST ``form`` to ``url`` through the WSGI ``app``; :returns: (status code, body text)."""
    if signature == "sign":
        signature = sign(url, form)
    seen = {}

    def start_response(status, headers):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(headers)

    body = b"".join(app(environ_for(url, form, signature), start_response)).decode()
    return seen["status"], body


def twiml(body):
    """:returns: the parsed <Response> element."""
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


def form(sid, caller, digits=None, **extra):
    fields = {"AccountSid": "AC" + "0" * 32, "CallSid": sid, "From": caller, "To": TO, "CallStatus": "in-progress",
              "Direction": "inbound"}
    if digits is not None:
        fields["Digits"] = digits
    fields.update(extra)
    return fields


def spoken(element):
    """:returns: [(tag, text or url, voice, language)] of every <Say>/<Play> under ``element``."""
    return [(e.tag, (e.text or "").strip(), e.get("voice"), e.get("language"))
            for e in element.iter() if e.tag in ("Say", "Play")]


def says(element):
    return " ".join(text for tag, text, _, _ in spoken(element) if tag == "Say")


def plays(element):
    return [text for tag, text, _, _ in spoken(element) if tag == "Play"]

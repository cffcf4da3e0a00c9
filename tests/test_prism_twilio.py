"""The real ``twilio`` library against Prism serving Twilio's own OpenAPI spec (see tests/prism.py).

Needs ``npm ci --ignore-scripts --no-audit --no-fund`` first; without Prism these tests fail, never skip.
"""

import re

import pytest
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException

from prism import (  # noqa: F401  (prism_server and prism_client_factory are pytest fixtures)
    DELIVERY_ERRORS, MAGIC_TO, MESSAGE_SID, SERVICE_SID, prism_client_factory, prism_server, prefer, prefer_error)

FROM = "+15005550006"  # Twilio's magic "valid From" test number
TO = "+14155552671"
SID = re.compile(r"(SM|MM)[0-9a-f]{32}")


def test_create_from_number_returns_sid(prism_client_factory):
    client = prism_client_factory()
    message = client.messages.create(to=TO, from_=FROM, body="Ration help: officer Rafiq, 09419000101")
    assert SID.fullmatch(message.sid)
    assert message.status == "queued"
    exchange, = client.http_client.exchanges
    assert (exchange.method, exchange.status, exchange.prefer) == ("POST", 201, None)
    assert exchange.data == {"To": TO, "From": FROM, "Body": "Ration help: officer Rafiq, 09419000101"}
    client.http_client.assert_no_request_violations()


def test_create_with_messaging_service_returns_sid(prism_client_factory):
    client = prism_client_factory()
    message = client.messages.create(to=TO, messaging_service_sid=SERVICE_SID, body="नमस्ते")
    assert SID.fullmatch(message.sid)
    assert client.http_client.exchanges[-1].data["MessagingServiceSid"] == SERVICE_SID
    client.http_client.assert_no_request_violations()


@pytest.mark.parametrize("to, code, status", [
    ("+15005550001", 21211, 400),  # Twilio's magic numbers...
    ("+15005550002", 21612, 400),
    ("+15005550003", 21408, 400),
    ("+15005550004", 21610, 400),
    ("+15005550009", 21614, 400),
    ("+15005550401", 20003, 401),  # ...and this project's own
    ("+15005550429", 20429, 429),
    ("+15005550500", 20500, 500),
    ("+15005550503", 20503, 503),
])
def test_create_error_raises_twilio_rest_exception(prism_client_factory, to, code, status):
    client = prism_client_factory(prefer=MAGIC_TO)
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=to, from_=FROM, body="hello")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.method == "POST"
    assert client.http_client.exchanges[-1].prefer == prefer_error(code)
    client.http_client.assert_no_request_violations()


def test_prefer_callable_chooses_per_request(prism_client_factory):
    def choose(method, url, params, data):
        return prefer_error(21610) if method == "POST" and data["Body"].startswith("STOP") else None

    client = prism_client_factory(prefer=choose)
    assert SID.fullmatch(client.messages.create(to=TO, from_=FROM, body="hello").sid)
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=TO, from_=FROM, body="STOP test")
    assert caught.value.code == 21610
    client.http_client.assert_no_request_violations()


@pytest.mark.parametrize("example, status, error_code", [
    ("delivered", "delivered", None),
    ("undelivered", "undelivered", 30003),
    ("failed", "failed", 30008),
    *[(f"undelivered{code}", "undelivered", code) for code in DELIVERY_ERRORS],
])
def test_fetch_delivery_outcome(prism_client_factory, example, status, error_code):
    client = prism_client_factory(prefer=prefer(200, example))
    message = client.messages(MESSAGE_SID).fetch()
    assert (message.status, message.error_code) == (status, error_code)
    assert message.error_message == DELIVERY_ERRORS.get(error_code)
    client.http_client.assert_no_request_violations()


def test_list_with_limit(prism_client_factory):
    client = prism_client_factory()
    messages = client.messages.list(to=TO, limit=5)
    assert len(messages) == 5
    assert all(SID.fullmatch(m.sid) for m in messages)
    first = client.http_client.exchanges[0]
    assert first.params == {"To": TO, "PageSize": 5}
    # The spec's list example always points to a next page: list() follows it until `limit`.
    assert all(e.status == 200 for e in client.http_client.exchanges)
    client.http_client.assert_no_request_violations()


def test_list_error_raises_base_twilio_exception(prism_client_factory):
    client = prism_client_factory(prefer=prefer_error(20429))
    with pytest.raises(TwilioException) as caught:
        client.messages.list(to=TO, limit=5)
    assert not isinstance(caught.value, TwilioRestException)  # list errors carry no .code/.status
    message, response = caught.value.args
    assert response.status_code == 429
    assert '"code":20429' in response.text
    client.http_client.assert_no_request_violations()


@pytest.mark.parametrize("chosen", [None, prefer_error(21610)])
def test_missing_to_is_a_request_violation(prism_client_factory, chosen):
    """Proves that the violation check is live, even when a Prefer header asks for a 400 example."""
    client = prism_client_factory(prefer=chosen, expect_request_violations=True)
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=values.unset, from_=FROM, body="hello")
    assert caught.value.status == 422
    violations = client.http_client.request_violations
    assert [(v["location"], v["code"]) for v in violations] == [(["request", "body"], "required")]
    assert "'To'" in violations[0]["message"]
    with pytest.raises(AssertionError, match="do not match Twilio's spec"):
        client.http_client.assert_no_request_violations()


def test_malformed_message_sid_is_a_request_violation(prism_client_factory):
    client = prism_client_factory(expect_request_violations=True)
    with pytest.raises(TwilioRestException) as caught:
        client.messages("SM123").fetch()
    assert caught.value.status == 422
    assert {tuple(v["location"]) for v in client.http_client.request_violations} == {("request", "path", "sid")}

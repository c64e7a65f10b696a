"""Standard Webhooks signatures: the generic CRM webhook proves where it came from."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from gateway.crm.generic import SignatureRejected, verify_standard_webhook

SECRET = "whsec_" + base64.b64encode(b"a-test-secret-of-32-bytes-length").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
BODY = b'{"event_type": "deal.upserted"}'


def signed(body: bytes = BODY, *, secret: str = SECRET, minutes: float = 0, event_id="msg_1"):
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    signature = Webhook(secret).sign(event_id, moment, body.decode())
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }


def test_a_correct_signature_answers_the_event_id():
    assert verify_standard_webhook(SECRET, signed(event_id="msg_42"), BODY) == "msg_42"


def test_header_names_are_case_insensitive():
    headers = {name.title(): value for name, value in signed().items()}

    assert verify_standard_webhook(SECRET, headers, BODY) == "msg_1"


def test_any_v1_signature_may_match_so_secrets_can_rotate():
    old = signed(secret=OTHER_SECRET)
    new = signed()
    headers = {**new, "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"}

    assert verify_standard_webhook(SECRET, headers, BODY) == "msg_1"


# Built when the test runs, not when it is collected: the timestamps must be fresh.
REFUSED = {
    "other-secret": lambda: (signed(secret=OTHER_SECRET), BODY),
    "tampered": lambda: (signed(), BODY + b" "),
    "too-old": lambda: (signed(minutes=-6), BODY),  # a replay
    "too-new": lambda: (signed(minutes=6), BODY),
    "no-id": lambda: ({k: v for k, v in signed().items() if k != "webhook-id"}, BODY),
    "garbage": lambda: ({**signed(), "webhook-signature": "garbage"}, BODY),
    "bad-base64": lambda: ({**signed(), "webhook-signature": "v1,not base64!"}, BODY),
    "v2-only": lambda: (
        {**signed(), "webhook-signature": signed()["webhook-signature"].replace("v1,", "v2,")},
        BODY,
    ),
    "bad-timestamp": lambda: ({**signed(), "webhook-timestamp": "yesterday"}, BODY),
    "infinite-timestamp": lambda: ({**signed(), "webhook-timestamp": "inf"}, BODY),
    "not-utf8": lambda: (signed(), b"\xff\xfe not utf-8"),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSED)
def test_anything_else_is_refused(case):
    headers, body = REFUSED[case]()

    with pytest.raises(SignatureRejected):
        verify_standard_webhook(SECRET, headers, body)


def test_a_timestamp_within_five_minutes_either_way_is_accepted():
    for minutes in (-4.5, 4.5):
        assert verify_standard_webhook(SECRET, signed(minutes=minutes), BODY) == "msg_1"

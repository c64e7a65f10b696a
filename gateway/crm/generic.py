"""Standard Webhooks signature verification for the generic CRM webhook.

The signature is an HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<raw body>` with the
`whsec_…` secret (the `standardwebhooks` package computes it). Every `v1,` signature in
`webhook-signature` is tried, so a sender can rotate its secret by signing with old and new
for a while. A timestamp more than 5 minutes from now is refused: a captured request
cannot be replayed later.
"""

import binascii
from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class SignatureRejected(Exception):
    """The request does not prove it came from the CRM (the API answers 401)."""


def verify_standard_webhook(secret: str, headers: Mapping[str, str], body: bytes) -> str:
    """Checks the signature over the raw body; answers the `webhook-id` (the event id)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureRejected("The body is not UTF-8 text, so no signature can match.") from None
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        Webhook(secret).verify(text, lowered, json_parse=False)
    except WebhookVerificationError as error:
        raise SignatureRejected(f"Webhook signature refused: {error}.") from None
    except (ValueError, TypeError, binascii.Error):  # a malformed signature header
        raise SignatureRejected("Webhook signature refused: malformed signature header.") from None
    return lowered["webhook-id"]

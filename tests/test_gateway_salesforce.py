"""The Salesforce webhook: Outbound Messages from allowed organizations, opportunities and
their commitment records as canonical events, answered with the SOAP Ack."""

from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import Stack
from tests.gateway_helpers import VIEWER, roadmap_with_two_items

ORG = "00D5e000000AbCdEAK"
ORG_SECRET = "sf-secret-0123456789abcdefXYZ"
OPPORTUNITY = "0065e000000AbCdAAK"
DEEP = 50_000  # elements nested in one another: far past any recursion limit


def envelope(*notifications: str, org: str = ORG) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5e000000AbCdAAK</ActionId>
   <SessionId xsi:nil="true"/>
   {"".join(notifications)}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def notification(notification_id: str, object_type: str, **fields: str | None) -> str:
    values = "".join(
        f'<sf:{name} xsi:nil="true"/>' if value is None else f"<sf:{name}>{value}</sf:{name}>"
        for name, value in fields.items()
    )
    return (
        f"<Notification><Id>{notification_id}</Id>"
        f'<sObject xsi:type="sf:{object_type}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{values}</sObject></Notification>"
    )


def opportunity(notification_id: str = "04l000000000001", **overrides: str | None) -> str:
    fields = {
        "Id": OPPORTUNITY, "Name": "Acme via Salesforce", "Amount": "250000.0",
        "CurrencyIsoCode": "USD", "StageName": "Negotiation/Review", "IsClosed": "false",
        "IsWon": "false", "CloseDate": "2026-12-15", "Account_Name__c": "Acme Corp",
        "Owner_Email__c": "rep@example.com", "LastModifiedDate": "2026-11-20T09:59:00.000Z",
    }  # fmt: skip
    fields.update(overrides)
    return notification(notification_id, "Opportunity", **fields)


def commitment(notification_id: str, record_id: str, **overrides: str | None) -> str:
    fields = {
        "Id": record_id, "Opportunity__c": OPPORTUNITY, "Kind__c": "feature",
        "Summary__c": "SSO with Okta", "Roadmap_Item_Key__c": "RM-12",
        "Promised_By__c": "2027-03-01", "Tags__c": "enterprise-security",
        "LastModifiedDate": "2026-11-20T10:05:00.000Z",
    }  # fmt: skip
    fields.update(overrides)
    return notification(notification_id, "Dealgate_Commitment__c", **fields)


async def send(gateway, body: bytes, key: str | None = ORG_SECRET):
    return await gateway.post(
        "/v1/webhooks/salesforce",
        params={"key": key} if key is not None else {},
        content=body,
        headers={"Content-Type": "text/xml"},
    )


async def deals(gateway) -> list[dict]:
    return (await gateway.get("/v1/deals", headers=VIEWER)).json()["items"]


async def commitments_of_deal(gateway) -> dict[str, str]:
    listed = (await gateway.get("/v1/commitments", headers=VIEWER)).json()["items"]
    return {c["external_id"]: c["review_status"] for c in listed}


@pytest.fixture
def stack(commitments_db_url, roadmap_db_url) -> Stack:
    # Set in lower case: the 18-character form is case-insensitive, and matches.
    return Stack(commitments_db_url, roadmap_db_url, salesforce_orgs=f"{ORG.lower()}={ORG_SECRET}")


async def test_an_opportunity_then_its_commitments_are_taken_and_acked(gateway):
    await roadmap_with_two_items(gateway)

    deal_answer = await send(gateway, envelope(opportunity()))
    promises = await send(
        gateway,
        envelope(
            commitment("04l000000000002", "a0B000000000001"),
            commitment(
                "04l000000000003", "a0B000000000002", Roadmap_Item_Key__c="RM-20",
                Promised_By__c="2027-06-01", Tags__c="enterprise-security;on-prem",
            ),
        ),
    )  # fmt: skip

    assert deal_answer.status_code == 200, deal_answer.text
    assert deal_answer.headers["content-type"].startswith("text/xml")
    assert "<Ack>true</Ack>" in deal_answer.text
    assert promises.status_code == 200, promises.text
    (deal,) = await deals(gateway)
    assert (deal["source"], deal["external_id"], deal["amount"]) == (
        "salesforce", OPPORTUNITY, "250000.00"
    )  # fmt: skip
    assert (deal["account"], deal["owner"], deal["stage"]) == (
        "Acme Corp", "rep@example.com", "open"
    )  # fmt: skip
    assert await commitments_of_deal(gateway) == {
        "a0B000000000001": "needs_signoff",  # promised before RM-12's plan
        "a0B000000000002": "needs_signoff",  # on-prem is a non-goal
    }


async def test_a_later_opportunity_change_keeps_its_commitments(gateway):
    await send(gateway, envelope(opportunity()))
    await send(gateway, envelope(commitment("04l000000000002", "a0B000000000001")))

    won = await send(
        gateway,
        envelope(
            opportunity(
                "04l000000000009", StageName="Closed Won", IsClosed="true", IsWon="true",
                LastModifiedDate="2026-11-21T09:00:00.000Z",
            )
        ),
    )  # fmt: skip

    assert won.status_code == 200
    (deal,) = await deals(gateway)
    assert deal["stage"] == "closed_won"
    assert list(await commitments_of_deal(gateway)) == ["a0B000000000001"]


class IntakeAnswers(httpx.AsyncBaseTransport):
    """The commitments service, noting the answer to every event handed over."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.outcomes = inner, []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.startswith("/crm-events/"):
            await response.aread()
            self.outcomes.append(response.json()["status"])
        return response


async def test_a_retried_message_is_acked_and_taken_once(stack, gateway):
    spy = IntakeAnswers(stack.commitments_network.inner)
    stack.commitments_network.inner = spy
    body = envelope(opportunity())

    first, again = await send(gateway, body), await send(gateway, body)

    assert first.status_code == again.status_code == 200
    assert spy.outcomes == ["accepted", "duplicate"]
    assert len(await deals(gateway)) == 1


async def test_a_lost_opportunity_withdraws_its_commitments(gateway):
    await send(gateway, envelope(opportunity()))
    await send(gateway, envelope(commitment("04l000000000002", "a0B000000000001")))

    lost = await send(
        gateway,
        envelope(
            opportunity(
                "04l000000000010", StageName="Closed Lost", IsClosed="true", IsWon="false",
                LastModifiedDate="2026-11-21T09:00:00.000Z",
            )
        ),
    )  # fmt: skip

    assert lost.status_code == 200
    assert (await deals(gateway))[0]["stage"] == "closed_lost"
    assert await commitments_of_deal(gateway) == {"a0B000000000001": "withdrawn"}


async def test_a_commitment_set_to_withdrawn_is_withdrawn_and_the_others_stand(gateway):
    await send(gateway, envelope(opportunity()))
    await send(
        gateway,
        envelope(
            commitment("04l000000000002", "a0B000000000001"),
            commitment("04l000000000003", "a0B000000000002", Summary__c="Audit logs"),
        ),
    )

    taken_back = await send(
        gateway, envelope(commitment("04l000000000004", "a0B000000000001", Status__c="Withdrawn"))
    )

    assert taken_back.status_code == 200
    statuses = await commitments_of_deal(gateway)
    assert statuses["a0B000000000001"] == "withdrawn"
    assert statuses["a0B000000000002"] != "withdrawn"


async def test_a_modification_time_far_ahead_is_refused_and_the_deal_is_not_frozen(gateway):
    await send(gateway, envelope(opportunity()))
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    ahead = await send(
        gateway, envelope(opportunity("04l000000000011", LastModifiedDate="9999-12-31T23:59:59Z"))
    )
    lost = await send(
        gateway,
        envelope(
            opportunity(
                "04l000000000012", StageName="Closed Lost", IsClosed="true", IsWon="false",
                LastModifiedDate=now,
            )
        ),
    )  # fmt: skip

    assert ahead.status_code == 422, ahead.text
    assert ahead.json()["errors"][0]["field"] == "body.Opportunity.LastModifiedDate"
    assert lost.status_code == 200, lost.text
    assert (await deals(gateway))[0]["stage"] == "closed_lost"


async def test_xml_nested_deeply_where_nothing_is_read_is_harmless(gateway):
    nested = "<Padding>" * DEEP + "</Padding>" * DEEP
    body = envelope(opportunity()).replace(b"<soapenv:Body>", f"<soapenv:Body>{nested}".encode())

    response = await send(gateway, body)

    assert response.status_code == 200, response.text
    assert len(await deals(gateway)) == 1


async def test_a_commitment_before_its_opportunity_is_409_so_salesforce_retries(gateway):
    early = await send(gateway, envelope(commitment("04l000000000002", "a0B000000000001")))
    await send(gateway, envelope(opportunity()))
    retried = await send(gateway, envelope(commitment("04l000000000002", "a0B000000000001")))

    assert early.status_code == 409
    assert early.headers["content-type"] == "application/problem+json"
    assert retried.status_code == 200
    assert list(await commitments_of_deal(gateway)) == ["a0B000000000001"]


@pytest.mark.parametrize(
    ("org", "key"),
    [
        ("00D9e000000ZzZzEAK", ORG_SECRET),  # another organization, with this one's secret
        (ORG, None),  # the endpoint URL without the secret
        (ORG, ORG_SECRET[:-1] + "Q"),  # a secret one character off
        (ORG[:15], ORG_SECRET),  # the 15-character form: only the full id is taken
    ],
    ids=["other-organization", "no-secret", "wrong-secret", "short-id"],
)
async def test_a_message_without_its_organizations_secret_is_401_and_writes_nothing(
    gateway, org, key
):
    # The forgery of the report: Closed Lost, modified 9999-12-31.
    forged = opportunity(StageName="Closed Lost", IsClosed="true", IsWon="false",
                         LastModifiedDate="9999-12-31T00:00:00.000Z")  # fmt: skip
    response = await send(gateway, envelope(forged, org=org), key=key)

    assert response.status_code == 401
    assert "DEALGATE_SALESFORCE_ORGS" in response.json()["detail"]
    assert await deals(gateway) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
        b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'/>",
        envelope(),
        envelope(opportunity(Name=None)),
        envelope(opportunity(Amount="lots")),
        envelope(notification("04l000000000001", "Account", Id="001")),
        envelope(opportunity(Name="<a>" * DEEP + "Acme" + "</a>" * DEEP)),
        b"<a>" * DEEP,  # never closed
    ],
    ids=[
        "not-xml", "dtd", "no-notifications", "empty", "no-name", "bad-amount",
        "other-object", "nested-deeply", "nested-deeply-unclosed",
    ],
)  # fmt: skip
async def test_what_is_not_an_outbound_message_is_422_and_writes_nothing(gateway, body):
    await send(gateway, envelope(opportunity("04l000000000777", Id="0065e000000ZzZzAAK")))

    response = await send(gateway, body)

    assert response.status_code == 422, response.text
    assert [deal["external_id"] for deal in await deals(gateway)] == ["0065e000000ZzZzAAK"]


async def test_a_commitment_of_a_kind_dealgate_does_not_take_needs_attention_and_blocks(
    gateway,
):
    await send(gateway, envelope(opportunity()))

    # Acked: a 4xx would have Salesforce retry the same unreadable record for a day.
    response = await send(
        gateway, envelope(commitment("04l000000000002", "a0B000000000001", Kind__c="wish"))
    )

    assert response.status_code == 200
    (listed,) = (await gateway.get("/v1/commitments", headers=VIEWER)).json()["items"]
    assert listed["review_status"] == "needs_attention"
    assert "kind" in listed["crm_problem"]
    (deal,) = await deals(gateway)
    gate = await gateway.get(f"/v1/deals/{deal['id']}/readiness", headers=VIEWER)
    assert gate.json()["ready"] is False

    fixed = await send(
        gateway, envelope(commitment("04l000000000003", "a0B000000000001", Kind__c="feature"))
    )

    assert fixed.status_code == 200
    (listed,) = (await gateway.get("/v1/commitments", headers=VIEWER)).json()["items"]
    assert listed["review_status"] not in ("needs_attention", "received")
    assert listed["crm_problem"] is None


class OpportunityMovesOnAfterLookup(httpx.AsyncBaseTransport):
    """The commitments service, where the opportunity changes (another message lands) just
    after the gateway looked it up for a commitment."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.moved = inner, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == "/deals" and not self.moved:
            self.moved = True
            await response.aread()
            deal = response.json()["items"][0]
            later = {
                "event_type": "deal.upserted", "occurred_at": "2026-11-22T09:00:00Z",
                "snapshot": False, "commitments": [],
                "deal": {
                    "source": "salesforce", "external_id": deal["external_id"],
                    "name": deal["name"], "stage": "open",
                    "updated_at": "2026-11-22T09:00:00Z",
                },
            }  # fmt: skip
            moved = await self.inner.handle_async_request(
                httpx.Request(
                    "PUT", request.url.copy_with(path="/crm-events/salesforce/moved-on-1",
                                                 query=b""),
                    headers=request.headers, json=later,
                )
            )  # fmt: skip
            await moved.aread()
            assert moved.status_code == 200, moved.text
        return response


async def test_a_commitment_whose_opportunity_moved_on_meanwhile_is_refused_then_lands(
    stack, gateway
):
    await send(gateway, envelope(opportunity()))
    stack.commitments_network.inner = OpportunityMovesOnAfterLookup(stack.commitments_network.inner)
    message = envelope(commitment("04l000000000002", "a0B000000000001"))

    refused = await send(gateway, message)
    assert refused.status_code == 409, refused.text
    assert await commitments_of_deal(gateway) == {}

    retried = await send(gateway, message)

    assert retried.status_code == 200, retried.text
    assert list(await commitments_of_deal(gateway)) == ["a0B000000000001"]

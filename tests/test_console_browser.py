"""The review console in a real browser (Debian's Chromium through Playwright) against the
three apps as real processes: a PM signs in through an OpenID provider (the local one of
tests/support/oidc_provider.py), finds a flagged promise in the queue, approves it and sees
its deal turn ready; a stale ETag shows the problem's detail; the development link signs in
from the address's fragment and leaves no token in it. Screenshots at laptop and phone
widths go to the test's folder (scripts/console_screenshots.py publishes them)."""

import re
import time

import httpx
import pytest

from kit.contracts import examples
from kit.contracts.commitments import CommitmentRead
from kit.contracts.reports import AgingReport, Ledger, Summary, Trend
from tests.commitments_helpers import crm_event, promise
from tests.gateway_helpers import JWT_SECRET, WEBHOOK_SECRET, bearer, signed_webhook
from tests.support import browser as browser_support
from tests.support.browser import LAPTOP, PHONE, Screenshots, chromium
from tests.support.oidc_provider import Person, served
from tests.support.processes import three_apps

pytestmark = pytest.mark.xdist_group("console_browser")

CLIENT = "dealgate-console"
ADMIN = Person("admin@example.com", ["admin"])
SSO = "SSO with Okta"
FORK = "A fork of the product for Globex"


def seed(gateway: str, token: str) -> dict[str, str]:
    """A roadmap item, Ana reviewing the triage area, and two deals: Acme's SSO promised
    before the item's planned end (flagged) beside one well after it (cleared), and
    Globex's custom work (flagged). Answers the deal ids by name."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway, headers=auth, timeout=30) as api:
        tag = {"slug": "enterprise-security", "name": "Enterprise security", "kind": "pillar"}
        assert api.post("/v1/roadmap/vision-tags", json=tag).status_code == 201
        item = {"key": "RM-12", "title": "Okta single sign-on", "status": "planned",
                "planned_end": "2027-04-01", "confidence": "high",
                "vision_tags": ["enterprise-security"], "owner": "ana@example.com"}  # fmt: skip
        assert api.post("/v1/roadmap/items", json=item).status_code == 201
        answer = api.put("/v1/reviewers/ana@example.com", json={"areas": ["triage"]})
        assert answer.status_code in (200, 201), answer.text
        deals = {}
        for event in (
            crm_event(
                promise("C-1", summary=SSO, promised_by="2027-03-01"),
                promise("C-2", summary="Audit log export", promised_by="2027-09-01"),
            ),
            crm_event(
                promise("C-9", kind="custom_work", summary=FORK, roadmap_item_key=None),
                deal="D-2002",
                name="Globex private cloud",
                account="Globex",
                amount="120000.00",
                currency="EUR",
            ),
        ):
            body, headers = signed_webhook(event)
            answer = api.post("/v1/webhooks/generic", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            deals[event["deal"]["name"]] = answer.json()["deal_id"]
        return deals


def watch_errors(page, *expected_statuses: int) -> list[str]:
    """Script errors, and answers the console did not expect (beyond `expected_statuses`)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def said(message) -> None:
        # A refused request is judged below, by its status; anything else logged as an
        # error (a script error, a content security policy violation) fails the test.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", said)

    def answered(response) -> None:
        if response.status < 400 or response.status in expected_statuses:
            return
        errors.append(f"{response.status} {response.url}")

    page.on("response", answered)
    return errors


def test_a_pm_signs_in_approves_a_flagged_promise_and_the_deal_turns_ready(
    commitments_db_url, roadmap_db_url, tmp_path
):
    from playwright.sync_api import expect

    shots = Screenshots(tmp_path)
    with (
        chromium() as browser,
        served(CLIENT, []) as provider,
        three_apps(
            commitments_db_url, roadmap_db_url, tmp_path,
            DEALGATE_OIDC_ISSUER=provider.issuer, DEALGATE_OIDC_CLIENT_ID=CLIENT,
        ) as apps,
    ):  # fmt: skip
        gateway = apps["gateway"].url
        provider.redirect_uris.append(f"{gateway}/console/")
        deals = seed(gateway, provider.mint(ADMIN))
        page = browser.new_page(viewport=LAPTOP)
        errors = watch_errors(page)
        began = time.monotonic()

        # A link carrying someone's valid token signs no one in where people sign in through
        # the provider (else a link could sign a person in as another without a word).
        page.goto(f"{gateway}/console/#token={provider.mint(ADMIN)}")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('dealgate.token')") is None
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Awaiting sign-off")).to_be_focused()
        # Back from the provider: the code and state are gone from the address.
        assert page.url == f"{gateway}/console/#/queue"
        assert len(provider.token_requests) == 1
        assert provider.token_requests[0]["code_verifier"]
        expect(page.get_by_text("ana@example.com (pm, viewer)")).to_be_visible()

        row = page.get_by_role("row").filter(has_text=SSO)
        expect(row).to_contain_text("Acme expansion")
        expect(row).to_contain_text("$250,000.00")
        expect(row).to_contain_text("date_before_plan")
        expect(page.get_by_role("row").filter(has_text=FORK)).to_contain_text("€120,000.00")
        expect(page.get_by_role("row").filter(has_text="Audit log export")).to_have_count(0)
        row.get_by_text("Evidence").click()
        expect(row).to_contain_text("2027-04-01")  # the item's planned end, as evidence
        shots.take(page, "queue-laptop")
        page.set_viewport_size(PHONE)
        shots.take(page, "queue-phone")
        page.set_viewport_size(LAPTOP)

        row.get_by_role("link", name=SSO).click()
        expect(page.get_by_role("heading", name=SSO)).to_be_focused()
        expect(page.get_by_text("RM-12: Okta single sign-on, planned")).to_be_visible()
        expect(page.get_by_role("heading", name="Approval chain")).to_be_visible()
        shots.take(page, "promise-laptop")
        page.set_viewport_size(PHONE)
        shots.take(page, "promise-phone")
        page.set_viewport_size(LAPTOP)

        # Keyboard only: the comment, then Tab to the Approve button and Enter.
        page.get_by_label("Comment", exact=True).fill("Fine for the pilot")
        page.get_by_label("Comment", exact=True).focus()
        page.keyboard.press("Tab")  # past the hint to the conditions
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Approve")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator(".done")).to_contain_text("Approved.")
        expect(page.get_by_role("status")).to_have_text("Approved.")  # announced
        expect(
            page.get_by_text("ana@example.com approved (area reviewer): “Fine for the pilot”")
        ).to_be_visible()

        page.get_by_role("link", name="See whether the deal may close").click()
        expect(page.get_by_role("heading", name="Ready to close")).to_be_visible(timeout=20_000)
        shots.take(page, "deal-laptop")

        page.get_by_role("link", name="Reports").click()
        expect(page.get_by_role("heading", name="Revenue at risk")).to_be_visible()
        expect(page.get_by_role("img", name=re.compile("EUR: €120,000.00 at risk"))).to_be_visible()
        expect(page.get_by_role("img", name=re.compile("USD"))).to_have_count(0)  # now ready
        shots.take(page, "reports-laptop")
        page.set_viewport_size(PHONE)
        shots.take(page, "reports-phone")
        elapsed = time.monotonic() - began

        assert not errors, errors
        with httpx.Client(base_url=gateway, timeout=10) as api:
            auth = {"Authorization": f"Bearer {provider.mint(ADMIN)}"}
            gate = api.get(f"/v1/deals/{deals['Acme expansion']}/readiness", headers=auth).json()
            listed = api.get(
                "/v1/commitments", params={"deal_id": deals["Acme expansion"]}, headers=auth
            ).json()["items"]
    assert gate["ready"] is True
    [sso] = [one for one in listed if one["summary"] == SSO]
    assert sso["review_status"] == "approved"
    for shot in shots.taken:
        assert shot.stat().st_size > 10_000, shot
    print(f"browser part: {elapsed:.1f} s")


def test_a_stale_etag_shows_the_problem_and_the_development_link_signs_in(
    commitments_db_url, roadmap_db_url, tmp_path
):
    from playwright.sync_api import expect

    with (
        chromium() as browser,
        three_apps(commitments_db_url, roadmap_db_url, tmp_path) as apps,
    ):
        gateway = apps["gateway"].url
        admin = _hs256("admin@example.com", ["admin"])
        deals = seed(gateway, admin)
        link = f"{gateway}/console/#token={_hs256('ana@example.com', ['pm', 'viewer'])}"
        page = browser.new_page(viewport=PHONE)
        errors = watch_errors(page, 412)

        page.goto(link)
        expect(page.get_by_role("heading", name="Awaiting sign-off")).to_be_visible()
        assert page.url == f"{gateway}/console/#/queue"  # the token left the address
        stored = page.evaluate("sessionStorage.getItem('dealgate.token')")
        assert stored == link.split("#token=", 1)[1]

        page.get_by_role("link", name=FORK).click()
        expect(page.get_by_role("heading", name=FORK)).to_be_visible()
        # Someone else asks a question meanwhile: the page's ETag is now stale.
        with httpx.Client(base_url=gateway, timeout=10) as api:
            listed = api.get(
                "/v1/commitments",
                params={"deal_id": deals["Globex private cloud"]},
                headers={"Authorization": f"Bearer {admin}"},
            ).json()["items"]
            asked = api.post(
                f"/v1/commitments/{listed[0]['id']}/questions",
                json={"question": "Which parts would the fork change?"},
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert asked.status_code == 200, asked.text
        page.get_by_label("Comment", exact=True).fill("We do not fork the product.")
        page.get_by_role("button", name="Reject").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("(412)")
        expect(alert).to_contain_text("ETag")
        page.get_by_role("button", name="Show the latest version").click()
        expect(page.get_by_text("Which parts would the fork change?")).to_be_visible()
        page.get_by_label("Comment", exact=True).fill("We do not fork the product.")
        page.get_by_role("button", name="Reject").click()
        expect(page.locator(".done")).to_contain_text("Rejected.")
        expect(page.get_by_role("status")).to_have_text("Rejected.")  # announced

        # The rest of the queue at once: select, choose, comment, decide.
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Queue").click()
        expect(page.get_by_role("row").filter(has_text=FORK)).to_have_count(0)
        page.get_by_role("checkbox", name=f"Select {SSO}").check()
        page.get_by_role("radio", name="Approve").check()
        page.get_by_label("Comment (a rejection needs one)").fill("Fine for the pilot")
        page.get_by_role("button", name="Decide the selected").click()
        expect(page.locator(".outcome")).to_contain_text("1 of 1 decided.")
        expect(page.locator(".outcome")).to_contain_text(f"{SSO}: approved")
        page.get_by_role("button", name="Show the queue again").click()
        expect(page.get_by_text("Nothing awaits sign-off.")).to_be_visible()

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('dealgate.token')") is None
        assert not errors, errors


def _hs256(sub: str, roles: list[str]) -> str:
    return bearer(*roles, sub=sub)["Authorization"].removeprefix("Bearer ")


# What the API answers, given by the browser itself, so the drawing of two currencies, a
# report failing and a 403 are checked without building them; each is checked against its
# contract model first, so the console is never tested against a shape the API lost.
LEDGER = {
    "items": [
        {"roadmap_item_key": "RM-12", "promises": 3, "deals": 2,
         "at_stake": [{"currency": "EUR", "deals": 1, "amount": "120000.00"},
                      {"currency": "USD", "deals": 1, "amount": "250000.00"}],
         "blocked": [{"currency": "EUR", "deals": 1, "amount": "120000.00"}],
         "earliest_promised_by": "2027-03-01"},
        {"roadmap_item_key": "RM-4", "promises": 1, "deals": 1, "at_stake": [], "blocked": [],
         "earliest_promised_by": None},
    ],
    "next_cursor": None,
}  # fmt: skip
TREND = {
    "weeks": [
        {"week_start": "2026-11-23", "received": 6, "flagged": 3, "approved": 2, "rejected": 1,
         "reopened": 0, "decisions": 3, "median_hours_to_decision": 5.5},
        {"week_start": "2026-11-30", "received": 4, "flagged": 2, "approved": 1, "rejected": 0,
         "reopened": 1, "decisions": 0, "median_hours_to_decision": None},
    ]
}  # fmt: skip
SUMMARY = {
    "by_status": [
        {"review_status": "needs_signoff", "currency": "EUR", "commitments": 1, "deals": 1,
         "deal_amount": "120000.00"},
        {"review_status": "needs_signoff", "currency": "USD", "commitments": 2, "deals": 1,
         "deal_amount": "250000.00"},
        {"review_status": "cleared", "currency": "USD", "commitments": 4, "deals": 2,
         "deal_amount": "90000.00"},
    ],
    "revenue_at_risk": [{"currency": "EUR", "deals": 1, "amount": "120000.00"},
                        {"currency": "USD", "deals": 1, "amount": "250000.00"}],
    "breaches": [],
}  # fmt: skip
COMMITMENT_ID = "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10"
DEAL_ID = "5d2b1c7e-9f10-4c55-9a53-0b8e8c1e2d4f"
AGING = {
    "sla_hours": 48, "awaiting": 1, "past_sla": 1, "oldest_age_hours": 50.5, "next_cursor": None,
    "items": [
        {"commitment_id": COMMITMENT_ID, "deal_id": DEAL_ID, "external_id": "C-1",
         "summary": SSO, "awaiting_since": "2026-12-01T08:00:00Z", "age_hours": 50.5,
         "past_sla": True, "deal_name": "Acme expansion", "deal_amount": "250000.00",
         "currency": "USD", "deal_owner": "rep@example.com",
         "reviewers_due": ["ana@example.com"], "conflict_codes": ["date_before_plan"],
         "conflicts": [examples.CONFLICT]},
    ],
}  # fmt: skip


@pytest.fixture
def console_only(tmp_path):
    """The gateway alone, as a process: it serves the console; the API is answered by the
    browser's routes in the test."""
    from tests.support.processes import Served, free_port

    port = free_port()
    gateway = Served(
        "gateway",
        port,
        {"DEALGATE_PORT": str(port), "DEALGATE_JWT_SECRET": JWT_SECRET,
         "DEALGATE_SWEEP_INTERVAL_SECONDS": "0", "DEALGATE_SIGNOFF_CHECK_INTERVAL_SECONDS": "0",
         "DEALGATE_WEBHOOK_SECRET": WEBHOOK_SECRET},
        tmp_path,
    )  # fmt: skip
    gateway.start()
    try:
        yield gateway.url
    finally:
        gateway.stop()


COMMITMENT = {
    "id": COMMITMENT_ID, "deal_id": DEAL_ID, "external_id": "C-1", "kind": "feature",
    "summary": SSO, "roadmap_item_key": None, "link_source": None, "promised_by": "2027-03-01",
    "tags": [], "review_status": "needs_signoff", "reopen_reason": None, "crm_problem": None,
    "status_changed_at": "2026-12-01T08:00:00Z", "version": 3, "conflicts": [],
    "deal": examples.DEAL,
    "evaluation": None, "evaluations": [], "decisions": [], "approval": None, "comments": [],
}  # fmt: skip
FORBIDDEN = {
    "type": "urn:dealgate:problem:forbidden", "title": "Forbidden", "status": 403,
    "detail": "The promise is in the triage area; ana@example.com reviews identity.",
}  # fmt: skip
UNAVAILABLE = {
    "title": "Service Unavailable", "status": 503,
    "detail": "The commitments service is unavailable: refused.",
}  # fmt: skip
ANSWERS = {
    "/v1/reports/ledger": LEDGER, "/v1/reports/trend": TREND, "/v1/reports/summary": SUMMARY,
    "/v1/reports/aging": AGING, "/v1/commitments?": {"items": [], "next_cursor": None},
}  # fmt: skip


def test_the_reports_are_drawn_per_currency_and_a_refusal_shows_its_detail(
    console_only,
):
    from playwright.sync_api import expect

    for model, answer in ((Ledger, LEDGER), (Trend, TREND), (Summary, SUMMARY),
                          (AgingReport, AGING), (CommitmentRead, COMMITMENT)):  # fmt: skip
        model.model_validate(answer)

    asked: list[tuple[str, str, dict]] = []
    down: set[str] = set()

    def answer(route) -> None:
        request = route.request
        asked.append((request.method, request.url, request.headers))
        if any(path in request.url for path in down):
            route.fulfill(status=503, json=UNAVAILABLE)
        elif request.method == "POST" and request.url.endswith("/decision"):
            problem_json = {"Content-Type": "application/problem+json"}
            route.fulfill(status=403, json=FORBIDDEN, headers=problem_json)
        elif request.url.endswith(f"/v1/commitments/{COMMITMENT_ID}"):
            route.fulfill(json=COMMITMENT, headers={"ETag": '"3"'})
        else:
            body = next(body for path, body in ANSWERS.items() if path in request.url)
            route.fulfill(json=body)

    with chromium() as browser:
        page = browser.new_page(viewport=LAPTOP)
        errors = watch_errors(page, 403, 503)
        page.route("**/v1/**", answer)
        page.goto(f"{console_only}/console/#token={_hs256('ana@example.com', ['pm', 'viewer'])}")

        row = page.get_by_role("row").filter(has_text=SSO)
        expect(row).to_contain_text("Acme expansion")
        expect(row).to_contain_text("$250,000.00")
        expect(row).to_contain_text("date_before_plan")
        expect(row).to_contain_text("past SLA")
        expect(row).to_contain_text("Awaits ana@example.com")
        assert not [url for _, url, _ in asked if "/v1/deals/" in url]  # the report named it

        page.get_by_role("navigation", name="Console").get_by_role("link", name="Reports").click()
        eur = re.compile(r"^EUR: €120,000.00 at risk in 1 deal")
        usd = re.compile(r"^USD: \$250,000.00 at risk in 1 deal")
        expect(page.get_by_role("img", name=eur)).to_be_visible()
        expect(page.get_by_role("img", name=usd)).to_be_visible()
        expect(page.get_by_text("370,000")).to_have_count(0)  # never a sum across currencies
        ledger = page.get_by_role("img", name=re.compile("Promises and deals by roadmap item"))
        said = ledger.locator("desc").text_content()
        assert "RM-12: 3 promises in 2 deals. At stake €120,000.00 (1 deals), $250,000.00" in said
        assert "blocked €120,000.00 (1 deals); earliest promised 1 Mar 2027" in said
        trend = page.get_by_role("img", name=re.compile("by week"))
        said = trend.locator("desc").text_content()
        assert "week of 2026-11-23: 3 flagged, 2 approved, 1 rejected" in said
        assert "median 5 h to a decision" in said

        # One report failing shows its problem; the others still draw.
        down.add("/v1/reports/trend")
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Queue").click()
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Reports").click()
        expect(page.get_by_role("alert")).to_contain_text("The commitments service is unavailable")
        expect(page.get_by_role("img", name=re.compile("by roadmap item"))).to_be_visible()
        expect(page.get_by_role("img", name=re.compile("by week"))).to_have_count(0)

        page.goto(f"{console_only}/console/#/commitments/{COMMITMENT_ID}")
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("alert")).to_contain_text("Forbidden (403)")
        expect(page.get_by_role("alert")).to_contain_text(FORBIDDEN["detail"])
        [decision] = [headers for method, _, headers in asked if method == "POST"]
        assert decision["if-match"] == '"3"'
        assert not errors, errors


@pytest.mark.parametrize("ci", ["true", None])
def test_without_a_browser_ci_fails_and_elsewhere_it_skips(monkeypatch, tmp_path, ci):
    monkeypatch.setattr(browser_support, "CHROMIUM", tmp_path / "no-chromium")
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception

    with pytest.raises(outcome, match="no browser at"), chromium():
        pass

"""A reviewer asks the rep instead of deciding, the rep answers, a reviewer recalls their
own decision (issue 13). Through /v1, on both databases."""

from tests.commitments_helpers import crm_event, promise
from tests.conftest import Stack
from tests.gateway_helpers import (
    CRM,
    PM,
    VIEWER,
    bearer,
    commitment,
    post_webhook,
    readiness,
    reviewer,
)


async def a_flagged_promise(gateway) -> tuple[str, str]:
    """(deal id, commitment id): one promise before its item's plan; ana reviews its area."""
    item = {"key": "RM-12", "title": "SSO", "status": "planned", "planned_end": "2027-04-01",
            "confidence": "high", "area": "identity"}  # fmt: skip
    assert (await gateway.post("/v1/roadmap/items", json=item, headers=PM)).status_code == 201
    event = crm_event(promise("C-1", roadmap_item_key="RM-12", promised_by="2027-03-01"))
    answer = (await post_webhook(gateway, event)).json()
    await reviewer(gateway, "ana@example.com", "identity")
    return answer["deal_id"], answer["commitments"][0]["id"]


async def ask(gateway, commitment_id: str, question: str = "Would a pilot do?", headers=PM):
    return await gateway.post(
        f"/v1/commitments/{commitment_id}/questions", json={"question": question}, headers=headers
    )


async def answer(gateway, commitment_id: str, text: str = "Yes, in March.", headers=CRM):
    return await gateway.post(
        f"/v1/commitments/{commitment_id}/answers", json={"answer": text}, headers=headers
    )


async def approve(gateway, commitment_id: str, headers=PM):
    return await gateway.post(
        f"/v1/commitments/{commitment_id}/decision",
        json={"decision": "approve", "comment": "ok"},
        headers=headers,
    )


async def test_a_question_holds_the_deal_until_answered_then_back_in_the_queue(gateway):
    deal_id, commitment_id = await a_flagged_promise(gateway)

    asked = await ask(gateway, commitment_id)
    assert asked.status_code == 200, asked.text
    assert asked.json()["review_status"] == "info_requested"
    gate = await readiness(gateway, deal_id)
    assert gate["ready"] is False
    assert gate["blocking"][0]["review_status"] == "info_requested"

    answered = await answer(gateway, commitment_id)
    assert answered.status_code == 200, answered.text
    assert answered.json()["review_status"] == "needs_signoff"
    thread = [(c["kind"], c["author"], c["role"], c["body"]) for c in answered.json()["comments"]]
    assert thread == [
        ("question", "ana@example.com", "pm", "Would a pilot do?"),
        ("answer", "crm-bot@example.com", "crm", "Yes, in March."),
    ]
    assert (await approve(gateway, commitment_id)).status_code == 200
    assert (await readiness(gateway, deal_id))["ready"] is True


async def test_a_question_may_still_be_decided_and_asked_again(gateway):
    _, commitment_id = await a_flagged_promise(gateway)
    await ask(gateway, commitment_id)
    again = await ask(gateway, commitment_id, "And the SCIM part?")
    assert again.json()["review_status"] == "info_requested"
    assert [c["kind"] for c in again.json()["comments"]] == ["question", "question"]
    decided = await approve(gateway, commitment_id)
    assert decided.json()["review_status"] == "approved"


async def test_saying_the_same_again_writes_nothing_more(gateway):
    _, commitment_id = await a_flagged_promise(gateway)
    first = await ask(gateway, commitment_id)
    retry = await ask(gateway, commitment_id)
    assert retry.status_code == 200
    assert retry.json()["version"] == first.json()["version"]
    assert len(retry.json()["comments"]) == 1
    await answer(gateway, commitment_id)
    assert len((await answer(gateway, commitment_id)).json()["comments"]) == 2


async def test_who_may_ask_and_answer_and_when(gateway):
    _, commitment_id = await a_flagged_promise(gateway)
    outsider = bearer("pm", sub="bo@example.com")
    refused = await ask(gateway, commitment_id, headers=outsider)
    assert refused.status_code == 403
    assert "'identity'" in refused.json()["detail"]
    no_question = await answer(gateway, commitment_id)
    assert no_question.status_code == 409
    assert "no question awaits an answer" in no_question.json()["detail"]
    await ask(gateway, commitment_id)
    assert (await answer(gateway, commitment_id, headers=VIEWER)).status_code == 403
    blank = await ask(gateway, commitment_id, question="   ")
    assert blank.status_code == 422
    stale = await gateway.post(
        f"/v1/commitments/{commitment_id}/answers",
        json={"answer": "Yes."},
        headers={**CRM, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    after = await commitment(gateway, commitment_id)
    assert (after["review_status"], len(after["comments"])) == ("info_requested", 1)
    await approve(gateway, commitment_id)
    assert (await ask(gateway, commitment_id)).status_code == 409  # decided: nothing to ask


async def test_a_reviewer_recalls_their_own_decision_soon_after(gateway):
    deal_id, commitment_id = await a_flagged_promise(gateway)
    await reviewer(gateway, "bo@example.com", "identity")
    await approve(gateway, commitment_id)
    assert (await readiness(gateway, deal_id))["ready"] is True
    recall = f"/v1/commitments/{commitment_id}/recall"

    by_another = await gateway.post(recall, json={}, headers=bearer("pm", sub="bo@example.com"))
    assert by_another.status_code == 403
    assert "ana@example.com" in by_another.json()["detail"]

    recalled = await gateway.post(recall, json={"reason": "Wrong promise."}, headers=PM)
    assert recalled.status_code == 200, recalled.text
    body = recalled.json()
    assert body["review_status"] == "needs_signoff"
    assert body["reopen_reason"] == "ana@example.com recalled their decision: Wrong promise."
    assert len(body["decisions"]) == 1  # the decision stays in the history
    assert [(c["kind"], c["body"]) for c in body["comments"]] == [("recall", "Wrong promise.")]
    assert (await readiness(gateway, deal_id))["ready"] is False
    assert (await gateway.post(recall, json={}, headers=PM)).status_code == 409  # nothing now
    assert (await approve(gateway, commitment_id)).json()["review_status"] == "approved"


async def test_a_decision_past_the_recall_window_stands(commitments_db_url, roadmap_db_url):
    stack = Stack(commitments_db_url, roadmap_db_url, recall_window_minutes=0)
    async with stack.running() as gateway:
        _, commitment_id = await a_flagged_promise(gateway)
        await approve(gateway, commitment_id)
        late = await gateway.post(f"/v1/commitments/{commitment_id}/recall", json={}, headers=PM)
        assert late.status_code == 409
        assert "could be recalled for 0 minutes" in late.json()["detail"]
        assert (await commitment(gateway, commitment_id))["review_status"] == "approved"


async def test_the_rep_answers_on_the_promise_in_the_crm(gateway):
    _, commitment_id = await a_flagged_promise(gateway)
    on_rm12 = {"roadmap_item_key": "RM-12", "promised_by": "2027-03-01"}

    async def crm_sends(updated: int, **fields) -> None:
        event = crm_event(promise("C-1", **on_rm12, **fields), updated=updated)
        assert (await post_webhook(gateway, event)).status_code == 200

    await crm_sends(1, answer="Not asked yet.")  # no question stands: nothing taken
    assert (await commitment(gateway, commitment_id))["comments"] == []
    assert (await ask(gateway, commitment_id)).status_code == 200

    await crm_sends(2, answer="Yes, a pilot in March.")
    read = await commitment(gateway, commitment_id)
    assert read["review_status"] == "needs_signoff"
    assert read["conflicts"], "the answer is not a change of what was promised"
    latest = read["comments"][-1]
    assert (latest["kind"], latest["author"], latest["role"], latest["body"]) == (
        "answer", "rep@example.com", "crm", "Yes, a pilot in March."
    )  # fmt: skip

    # The field keeps its text: the next question needs a new answer.
    assert (await ask(gateway, commitment_id, "And the SLA?")).status_code == 200
    await crm_sends(3, answer="Yes, a pilot in March.")
    assert (await commitment(gateway, commitment_id))["review_status"] == "info_requested"
    await crm_sends(4, answer="The standard SLA.")
    read = await commitment(gateway, commitment_id)
    assert read["review_status"] == "needs_signoff"
    assert [c["kind"] for c in read["comments"]] == ["question", "answer", "question", "answer"]

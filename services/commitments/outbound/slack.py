"""Notices as a Slack message (Block Kit), posted to an incoming webhook.

Slack answers 200 `ok`; anything else is a failure (400 `invalid_blocks`, 404 `no_service`,
410 `channel_is_archived`…). Limits kept: a header's text at most 150 characters, a
section's 3000, a message's blocks 50 (a digest lists at most `MOST_IN_A_DIGEST` notices).
"""

from collections.abc import Sequence

from services.commitments.outbound.messages import Notice

MOST_IN_A_DIGEST = 15


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escaped(text: str) -> str:
    """Slack's mrkdwn control characters, as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}}


def message(notices: Sequence[Notice]) -> dict:
    if len(notices) == 1:
        return _single(notices[0])
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{len(notices)} updates from Dealgate"},
        }
    ]
    for notice in notices:
        first_conflict = f"\n{_escaped(notice.conflicts[0].message)}" if notice.conflicts else ""
        blocks.append(
            _section(
                f"*<{notice.link}|{_escaped(notice.title)}>*\n{_escaped(notice.deal)}"
                f"{first_conflict}"
            )
        )
    text = "; ".join(notice.title for notice in notices)
    return {"text": _cut(text, 3000), "blocks": blocks}


def _single(notice: Notice) -> dict:
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(notice.title, 150)}},
        _section(f"*Deal:* {_escaped(notice.deal)}\n*Promise:* {_escaped(notice.promise)}"),
    ]
    for conflict in notice.conflicts:
        evidence = f"\n_{_escaped(conflict.evidence)}_" if conflict.evidence else ""
        blocks.append(_section(f"*{conflict.heading}*\n{_escaped(conflict.message)}{evidence}"))
    if notice.notes:
        blocks.append(_section("\n".join(_escaped(note) for note in notice.notes)))
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in Dealgate"},
                    "url": notice.link,
                }
            ],
        }
    )
    return {"text": _cut(f"{notice.title} — {notice.deal}", 3000), "blocks": blocks[:50]}

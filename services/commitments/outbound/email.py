"""Notices as an email: plain text and HTML alternatives, sent over SMTP (aiosmtplib)."""

import html
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from services.commitments.outbound.messages import Notice

MOST_IN_A_DIGEST = 25


def compose(notices: Sequence[Notice], *, sender: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = (
        f"[Dealgate] {notices[0].title}"
        if len(notices) == 1
        else f"[Dealgate] {len(notices)} updates on promises awaiting or given sign-off"
    )
    message["Message-ID"] = make_msgid(domain="dealgate")
    message.set_content("\n\n".join(_text(notice) for notice in notices))
    body = "".join(_html(notice) for notice in notices)
    message.add_alternative(
        f'<!doctype html><html lang="en"><body style="font-family:sans-serif">{body}</body></html>',
        subtype="html",
    )
    return message


def _text(notice: Notice) -> str:
    lines = [notice.title, "", f"Deal: {notice.deal}", f"Promise: {notice.promise}"]
    for conflict in notice.conflicts:
        lines += ["", f"- {conflict.heading}: {conflict.message}"]
        if conflict.evidence:
            lines.append(f"  Evidence: {conflict.evidence}")
    if notice.notes:
        lines += ["", *notice.notes]
    lines += ["", f"Open it: {notice.link}"]
    return "\n".join(lines)


def _html(notice: Notice) -> str:
    e = html.escape
    conflicts = "".join(
        f"<li><strong>{e(c.heading)}</strong>: {e(c.message)}"
        + (f"<br><small>{e(c.evidence)}</small>" if c.evidence else "")
        + "</li>"
        for c in notice.conflicts
    )
    notes = "".join(f"<p>{e(note)}</p>" for note in notice.notes)
    return (
        f"<h2>{e(notice.title)}</h2>"
        f"<p><strong>Deal:</strong> {e(notice.deal)}<br>"
        f"<strong>Promise:</strong> {e(notice.promise)}</p>"
        + (f"<ul>{conflicts}</ul>" if conflicts else "")
        + notes
        + f'<p><a href="{e(notice.link, quote=True)}">Open it in Dealgate</a></p>'
    )


class Mailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str,
        username: str | None,
        password: str | None,
        timeout: float,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            timeout=self.timeout,
        )

"""Starting a command: its settings and its database, or one plain line per thing to fix.

A person starting an app should read what to change, not a traceback. Each settings
mistake becomes one line naming the environment variable and what is wrong with it; a
database that cannot be reached at start, one line naming its variable, where it points
(password hidden) and why. The command then exits with code 2, as command-line tools do
for a usage error. `DEALGATE_TRACEBACK=1` prints the traceback too, for the rare case the
line does not explain.

Every entry point (`python -m gateway …`, `python -m services.<name> …`, `make run`) runs
inside `command(prog)`, so they all speak alike.
"""

import os
import re
import socket
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.db import create_engine
from kit.settings import AppSettings

MISTAKE_EXIT_CODE = 2
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
TRACEBACK_VARIABLE = "DEALGATE_TRACEBACK"
# A value is repeated in its line only when it is short and cannot be a secret.
ECHOED_VALUE_LENGTH = 60

Settings = TypeVar("Settings", bound=AppSettings)


class StartupRefused(Exception):
    """What stops a command before it does anything: one line per thing to fix."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def traceback_wanted() -> bool:
    return os.environ.get(TRACEBACK_VARIABLE, "").strip().lower() in ("1", "true", "yes")


@contextmanager
def command(prog: str) -> Iterator[None]:
    """Runs a command's body: a refusal prints its lines and exits 2; Ctrl-C before the
    server has taken over its signals exits quietly."""
    try:
        yield
    except StartupRefused as refused:
        if traceback_wanted():
            traceback.print_exception(refused.__cause__ or refused)
        for line in refused.lines:
            print(f"{prog}: {line}", file=sys.stderr, flush=True)
        raise SystemExit(MISTAKE_EXIT_CODE) from None
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None


def read_settings(settings_class: type[Settings]) -> Settings:
    """The settings from the environment (and `.env`), or StartupRefused naming each mistake."""
    try:
        return settings_class()
    except (ValidationError, SettingsError) as error:
        raise StartupRefused(settings_mistakes(settings_class, error)) from error


def settings_mistakes(
    settings_class: type[AppSettings], error: ValidationError | SettingsError
) -> list[str]:
    """One line per mistake, each naming the environment variable to change."""
    if isinstance(error, SettingsError):
        # pydantic-settings could not even decode a value: 'error parsing value for field "x" …'
        found = re.search(r'field "(\w+)"', str(error))
        if found and found[1] in settings_class.model_fields:
            return [f"{settings_class.env_name(found[1])}: cannot be read: {error}"]
        return [str(error)]
    return [_line(settings_class, mistake) for mistake in error.errors(include_url=False)]


def _line(settings_class: type[AppSettings], mistake: dict) -> str:
    message = mistake["msg"].removeprefix("Value error, ")
    location = mistake["loc"]
    if not location:  # a rule across settings: its message names the variables itself
        return message
    field = str(location[0])
    if field in settings_class.model_fields:
        variable = settings_class.env_name(field)
    else:  # pydantic names a field read through its alias by that alias
        field, variable = _field_of_alias(settings_class, field), field.upper()
    entries = [part for part in location[1:] if isinstance(part, int)]
    where = f" (entry {entries[0] + 1})" if entries else ""
    given = mistake.get("input")
    echo = (
        isinstance(given, str)
        and len(given) <= ECHOED_VALUE_LENGTH
        and field not in settings_class.secret_fields
        and "url" not in field
        and mistake["type"] != "value_error"  # our own messages quote what they need
    )
    return f"{variable}{where}: {message}" + (f" (it is {given!r})" if echo else "")


def _field_of_alias(settings_class: type[AppSettings], alias: str) -> str:
    for name in settings_class.model_fields:
        if settings_class.env_name(name) == alias.upper():
            return name
    return alias


@asynccontextmanager
async def reached_database(url: str, variable: str) -> AsyncIterator[AsyncEngine]:
    """An engine for `url` that has connected once, disposed afterwards; a database that
    cannot be reached is StartupRefused, one line, not a traceback deep inside whatever
    used it first (the migrations)."""
    try:
        engine = create_engine(url)
    except OSError as error:  # the folder of a SQLite file cannot be made
        raise StartupRefused([_unreachable(url, variable, error)]) from error
    try:
        try:
            async with engine.connect():
                pass
        except Exception as error:  # refused, unknown host, a URL option the driver refuses…
            raise StartupRefused([_unreachable(url, variable, error)]) from error
        yield engine
    finally:
        await engine.dispose()


def _unreachable(url: str, variable: str, error: BaseException) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        where = f"the SQLite file {parsed.database}"
    else:
        shown = parsed.set(drivername=parsed.get_backend_name())
        where = shown.render_as_string(hide_password=True)
    return f"{variable}: cannot connect to {where}: {_cause(error, parsed.host)}"


def _cause(error: BaseException, host: str | None) -> str:
    if isinstance(error, DBAPIError):
        return str(error.orig).strip().splitlines()[0]
    if isinstance(error, ConnectionRefusedError) or "Connect call failed" in str(error):
        return "connection refused (is the database server running, on that port?)"
    if isinstance(error, socket.gaierror):
        return f"the host name {host!r} is not known"
    if isinstance(error, TimeoutError):
        return "no answer (a firewall, or the wrong host?)"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)

"""Losing a service's database while it serves, on each backend: PostgreSQL behind a TCP
proxy that can be cut (every connection dropped, new ones refused), SQLite by its folder
vanishing (as a lost volume would), with the pooled connections gone either way."""

import asyncio
import shutil
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from tests.support.processes import free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses
    new ones until `restore()` listens on the same port again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        # Not bind(0): `restore()` listens on this port again, and an ephemeral one could be
        # handed to another connection in between.
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task] = set()

    async def start(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            sink.close()

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def restore(self) -> None:
        await self.start()


class DatabaseOutage:
    """The database of one app, losable. Build it from the test's database URL, give the
    app `url`, and once the app runs call `lose(app)` and `recover()`."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        self._proxy: TcpProxy | None = None
        self._original = url
        if self.backend == "sqlite":
            volume = tmp_path / "volume"
            volume.mkdir()
            database = Path(parsed.database)
            shutil.move(database, volume / database.name)
            self.url = parsed.set(database=str(volume / database.name)).render_as_string(False)
            self._volume, self._moved = volume, tmp_path / "volume-gone"
        else:
            self._proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
            self.url = ""  # known once the proxy listens (`start`)

    async def start(self) -> "DatabaseOutage":
        if self._proxy is not None:
            await self._proxy.start()
            self.url = (
                make_url(self._original)
                .set(host="127.0.0.1", port=self._proxy.port)
                .render_as_string(False)
            )
        return self

    async def lose(self, app: FastAPI) -> None:
        if self._proxy is not None:
            await self._proxy.cut()
        else:
            self._volume.rename(self._moved)
        # Pooled SQLite connections would go on through their open files.
        if self.backend == "sqlite":
            await app.state.engine.dispose()

    async def recover(self) -> None:
        if self._proxy is not None:
            await self._proxy.restore()
        else:
            self._moved.rename(self._volume)

    async def close(self) -> None:
        if self._proxy is not None:
            await self._proxy.cut()

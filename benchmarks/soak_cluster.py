"""A throwaway PostgreSQL cluster for the soak benchmark, on its own port (not the shared one)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """``initdb`` + ``pg_ctl`` in a temporary folder, as the ``postgres`` user when run as root."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="soak-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.restarts = 0
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        subprocess.run(
            [*prefix, *command], check=True, capture_output=True, cwd=self.folder, timeout=120
        )

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l", "log", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self, down: float) -> None:
        """Stop the server, keep it down for ``down`` seconds, start it again."""
        self.stop()
        time.sleep(down)
        self.start()
        self.restarts += 1

    def ready(self) -> None:
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                connection.execute(text("select 1"))
        finally:
            engine.dispose()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def own_cluster() -> Cluster | None:
    """Start a cluster of our own, or None when initdb and pg_ctl are not available."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        return None
    cluster = Cluster()
    try:
        cluster.start()
        cluster.ready()
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"could not start a PostgreSQL cluster of its own ({exc}); no database restarts")
        cluster.destroy()
        return None
    return cluster

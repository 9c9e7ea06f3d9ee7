"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl on a temp dir, loopback only."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa


def find_pg_bin() -> Path | None:
    """The bin folder of an installed PostgreSQL server (Debian layout or PATH), or None."""
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists():
            return Path(cand)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    datadir: Path
    port: int
    runas: list[str]
    _admin: sa.Engine | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def admin(self) -> sa.Engine:
        """An autocommit engine on the `postgres` database, for CREATE / DROP DATABASE."""
        if self._admin is None:
            self._admin = sa.create_engine(self.base_url + "/postgres", isolation_level="AUTOCOMMIT")
        return self._admin

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """Create a database (a copy of `template` when given: far cheaper than migrating a new one);
        returns its URL."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        copy = f' TEMPLATE "{template}"' if template else ""
        with self.admin().connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
        return f"{self.base_url}/{name}"

    def drop_database(self, url: str) -> None:
        """Drop the database at `url`, closing any connection a test left open."""
        with self.admin().connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))

    def _run(self, *args: str) -> None:
        subprocess.run([*self.runas, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8")
        # Durability is pointless for a test server; turning it off makes the suite faster.
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", opts, "-w", "-t", "60",
                  "-l", str(self.datadir / "server.log"), "start")

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.dispose()
        subprocess.run([*self.runas, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=60)


def start_pg() -> PgServer | None:
    """Start a fresh server (as the postgres user when we are root); None if no server is installed."""
    bindir = find_pg_bin()
    if bindir is None:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="paperscope-pg-"))
    datadir = tmp / "data"
    runas: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        pw = pwd.getpwnam("postgres")
        os.chmod(tmp, 0o755)
        datadir.mkdir()
        os.chown(datadir, pw.pw_uid, pw.pw_gid)
        runas = ["runuser", "-u", "postgres", "--"]
    server = PgServer(bindir, datadir, free_port(), runas)
    server.start()
    return server

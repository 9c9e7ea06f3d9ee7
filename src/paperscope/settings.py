"""The one settings object: read from PAPERSCOPE_* environment variables, overridable by CLI flags."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable about a paperscope installation."""

    model_config = SettingsConfigDict(env_prefix="PAPERSCOPE_", env_file=None, extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".paperscope")
    # Empty means the embedded SQLite database under `home`.
    database_url: str = ""

    # Sources
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    hf_api_url: str = "https://huggingface.co"
    openalex_url: str = "https://api.openalex.org"
    openalex_mailto: str | None = None  # OpenAlex's "polite pool" (faster, more reliable) wants an address
    # arXiv asks for no more than one request every three seconds.
    request_interval: float = 3.0
    user_agent: str = "paperscope/0.1 (self-hosted paper discovery)"

    # Encoder: empty = the bundled MiniLM; otherwise a directory with model.onnx + tokenizer.json.
    model: str = ""

    # Web
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr("")

    # Mail
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_security: str = "none"  # none | starttls | tls
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    mail_from: str = "paperscope <digest@localhost>"
    smtp_connections: int = 2  # SMTP sessions used at once by a digest run
    # Digests: `paperscope serve` composes and sends them itself every N minutes when enabled (off by
    # default: use cron with `paperscope digest run` instead, or as well; one sender runs at a time).
    digest_scheduler: bool = False
    digest_interval_minutes: float = 15.0

    @property
    def sqlite_path(self) -> Path:
        return self.home / "paperscope.db"

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL actually used: PAPERSCOPE_DATABASE_URL or the embedded SQLite file."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    def signing_key(self) -> str:
        """The secret used to sign cookies, CSRF tokens and mail links.

        PAPERSCOPE_SECRET_KEY wins; otherwise a random key is created once under `home` (file mode 0600),
        so links stay valid across restarts without anyone having to configure a secret.
        """
        if self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.home / "secret_key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            os.replace(tmp, path)
        return path.read_text().strip()

    def ensure_home(self) -> Path:
        """Create the home directory (and index folder) if missing; return it."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        return self.home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

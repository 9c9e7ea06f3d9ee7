"""The one settings object: read from PAPERSCOPE_* environment variables, overridable by CLI flags."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from paperscope import __version__


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
    user_agent: str = f"paperscope/{__version__} (self-hosted paper discovery)"

    # Encoder: empty = the bundled MiniLM; "late-minilm" = our MiniLM fine-tuned for MaxSim (shipped in the
    # package, see docs/decisions/own-late-interaction-encoder.md); otherwise a directory with model.onnx +
    # tokenizer.json.
    model: str = ""
    # `paperscope serve` embeds papers that have no stored embedding in the background (one embedder per
    # store) and keeps its index files in step with the store, checking every `index_poll_seconds`.
    embed_in_background: bool = True
    index_poll_seconds: float = 1.0

    # Web
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr("")
    # Anonymous pages are cached until the store changes; pages that also depend on the search indexes
    # or the clock at most this long (0: no page cache). `paperscope serve --cache-seconds` overrides.
    web_cache_seconds: float = Field(default=30.0, ge=0)
    # Threads per worker for sync routes (anyio's default, 40). Fewer (6) were tried to keep renders from
    # crowding the event loop, which answers cached pages itself; on a busy 2-core machine the
    # difference was lost in noise. `paperscope serve --threads` overrides.
    web_threads: int = Field(default=40, ge=1)
    # Request bodies over this many bytes get a 413 (forms and JSON); multipart uploads (BibTeX
    # import, up to 5 MB of file) have their own cap.
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 6 << 20
    # Caches that anonymous requests fill, each least-recently-used first out: finished pages (per
    # worker in memory, and the folder in /dev/shm the workers share) and similar-papers lists on disk.
    page_cache_bytes: int = 64 << 20
    page_cache_entries: int = 10_000
    similar_cache_files: int = 5_000
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or
    # CIDR ranges, "*" for any), as uvicorn's --forwarded-allow-ips. Empty: none, so the client address
    # the rate limits count is the TCP peer's and a forged header changes nothing.
    trusted_proxies: str = ""
    # Who may read: "public" (anyone) or "members" (signed-in, verified accounts only; see web/access.py).
    access: str = "public"
    # Who may create an account: "open", "invite" (invitations only) or "domains:example.edu,lab.org".
    signup: str = "open"
    # Alert webhooks may point at loopback/private addresses only when this is on (tests, a local relay).
    webhook_allow_private: bool = False

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
    def members_only(self) -> bool:
        """True when only signed-in, verified members may read (PAPERSCOPE_ACCESS=members)."""
        return self.access.strip().lower() == "members"

    @property
    def signup_mode(self) -> str:
        """"open", "invite" or "domains" (PAPERSCOPE_SIGNUP; anything unknown is treated as "invite")."""
        mode = self.signup.strip().lower().split(":", 1)[0]
        return mode if mode in ("open", "invite", "domains") else "invite"

    @property
    def signup_domains(self) -> tuple[str, ...]:
        """The email domains PAPERSCOPE_SIGNUP=domains:a,b lets sign up (lower case)."""
        _, _, rest = self.signup.partition(":")
        return tuple(d.strip().lower().lstrip("@") for d in rest.split(",") if d.strip())

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
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Several worker processes may get here at once on a fresh home. Each writes its own temp
            # file and links it into place: the link fails when the key exists, so the first key wins
            # and every process reads that one (a shared temp name made one worker's rename fail).
            tmp = path.with_name(f"secret_key.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return path.read_text().strip()

    def ensure_home(self) -> Path:
        """Create the home directory (mode 0700: it holds the database, with emails and password
        hashes, and the secret key) and its index folder if missing; return it."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        return self.home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

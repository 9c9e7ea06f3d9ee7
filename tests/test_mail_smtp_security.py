"""SMTP delivery with STARTTLS, implicit TLS and AUTH against aiosmtpd on 127.0.0.1 (self-signed cert)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from paperscope.mail.runner import deliver_pending
from paperscope.mail.subscribe import SubscriptionRequest, request_subscription
from paperscope.settings import Settings
from paperscope.store.mail_outbox import outbox_counts
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"mailer", b"s3cret")
    return AuthResult(success=ok, handled=False)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture(params=["starttls", "tls"])
def secure_smtp(request: pytest.FixtureRequest,
                certificate: tuple[Path, Path]) -> Iterator[tuple[str, SmtpServer]]:
    cert, key = certificate
    if request.param == "starttls":
        server = SmtpServer(tls_context=server_context(cert, key), require_starttls=True,
                            authenticator=authenticator, auth_require_tls=True)
    else:
        server = SmtpServer(ssl_context=server_context(cert, key), authenticator=authenticator,
                            auth_require_tls=False)
    server.start()
    yield request.param, server
    server.stop()


def test_confirmation_mail_goes_out_over_tls_with_auth(
        engine: sa.Engine, settings: Settings, secure_smtp: tuple[str, SmtpServer],
        certificate: tuple[Path, Path]) -> None:
    security, smtp = secure_smtp
    client_ctx = ssl.create_default_context(cafile=str(certificate[0]))
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                      "smtp_security": security, "smtp_user": "mailer",
                                      "smtp_password": SecretStr("wrong")})
    request_subscription(engine, cfg, SubscriptionRequest("gil@example.com", trending=True))

    refused = deliver_pending(engine, cfg, ssl_context=client_ctx)
    assert refused is not None and refused.sent == 0 and "login refused" in refused.stopped
    assert outbox_counts(engine) == {"queued": 1}, "a refused login loses nothing"

    untrusted = deliver_pending(engine, cfg.model_copy(update={"smtp_password": SecretStr("s3cret")}))
    assert untrusted is not None and untrusted.sent == 0, "an unverified certificate must not be accepted"

    good = cfg.model_copy(update={"smtp_password": SecretStr("s3cret")})
    # The failed attempts above pushed the message back; send what is queued regardless of its due time.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE mail_outbox SET next_attempt_at = created_at"))
    report = deliver_pending(engine, good, ssl_context=client_ctx)
    assert report is not None and report.sent == 1
    assert [r.recipient for r in smtp.handler.received] == ["gil@example.com"]

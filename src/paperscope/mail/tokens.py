"""Signed, expiring tokens for mail links (confirm, one-click unsubscribe) and subscription forms."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperscope.settings import Settings

CONFIRM_MAX_AGE = 7 * 24 * 3600
# Unsubscribe links sit in old digests; they must keep working long after the mail was sent.
UNSUBSCRIBE_MAX_AGE = 400 * 24 * 3600
FORM_MAX_AGE = 2 * 3600


class BadToken(ValueError):
    """A link or form token that is forged, for another purpose, or too old. `expired` says which."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class SubscriberRef:
    """Who a mail link is about."""

    subscription: int
    email: str
    change: str | None = None  # confirmation links: the fingerprint of the request they apply


class MailTokens:
    """Makes and checks tokens with the installation's signing key; build one per request or run."""

    def __init__(self, settings: Settings) -> None:
        key = settings.signing_key()
        # A distinct salt per purpose: a confirmation token can never be replayed as an unsubscribe one.
        self._confirm = URLSafeTimedSerializer(key, salt="paperscope.mail.confirm")
        self._unsubscribe = URLSafeTimedSerializer(key, salt="paperscope.mail.unsubscribe")
        self._form = URLSafeTimedSerializer(key, salt="paperscope.mail.form")
        self.base_url = settings.base_url.rstrip("/")

    def confirm_token(self, ref: SubscriberRef) -> str:
        """Token for the double opt-in link."""
        if ref.change is None:
            return self._confirm.dumps([ref.subscription, ref.email])
        return self._confirm.dumps([ref.subscription, ref.email, ref.change])

    def unsubscribe_token(self, ref: SubscriberRef) -> str:
        """Token for the one-click unsubscribe link."""
        return self._unsubscribe.dumps([ref.subscription, ref.email])

    def confirm_url(self, ref: SubscriberRef) -> str:
        return f"{self.base_url}/subscriptions/confirm/{self.confirm_token(ref)}"

    def unsubscribe_url(self, ref: SubscriberRef) -> str:
        return f"{self.base_url}/subscriptions/unsubscribe/{self.unsubscribe_token(ref)}"

    def read_confirm(self, token: str) -> SubscriberRef:
        """The subscriber a confirmation token names; BadToken when invalid or older than a week."""
        return self._read(self._confirm, token, CONFIRM_MAX_AGE)

    def read_unsubscribe(self, token: str) -> SubscriberRef:
        """The subscriber an unsubscribe token names; BadToken when invalid or very old."""
        return self._read(self._unsubscribe, token, UNSUBSCRIBE_MAX_AGE)

    def form_token(self) -> str:
        """A CSRF token for the subscribe form (stateless: valid for two hours)."""
        return self._form.dumps("subscribe")

    def check_form_token(self, token: str) -> None:
        """Raise BadToken unless `token` came from `form_token` recently."""
        try:
            self._form.loads(token, max_age=FORM_MAX_AGE)
        except SignatureExpired as exc:
            raise BadToken("the form has expired; reload the page and try again", expired=True) from exc
        except BadSignature as exc:
            raise BadToken("invalid form token; reload the page and try again") from exc

    @staticmethod
    def _read(serializer: URLSafeTimedSerializer, token: str, max_age: int) -> SubscriberRef:
        try:
            sub, email, *rest = serializer.loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise BadToken("this link has expired", expired=True) from exc
        except (BadSignature, ValueError, TypeError) as exc:
            raise BadToken("this link is not valid") from exc
        return SubscriberRef(int(sub), str(email), str(rest[0]) if rest else None)

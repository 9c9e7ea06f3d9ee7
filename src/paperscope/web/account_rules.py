"""What a username and a password must be: one rule for sign-up, invitations and the command line."""

from __future__ import annotations

import re

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$")
MIN_PASSWORD = 10

"""The app's author directory, shared by the author pages and the search filter."""

from __future__ import annotations

from fastapi import Request

from paperscope.search.authors import AuthorDirectory
from paperscope.web.rendering import state


def author_directory(request: Request) -> AuthorDirectory:
    """The app's author directory (built on first use, then kept up to date with new papers)."""
    directory: AuthorDirectory | None = getattr(request.app.state, "author_directory", None)
    if directory is None:
        directory = AuthorDirectory(state(request).engine)
        request.app.state.author_directory = directory
    return directory

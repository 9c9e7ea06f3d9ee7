"""paperscope — a self-hosted research-paper discovery service."""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it (dynamic version)

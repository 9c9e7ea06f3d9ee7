"""Query -> ranked papers. See search.types for the contract."""

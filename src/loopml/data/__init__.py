"""Data: versioned datasets, table profiles, schemas and validation, diffs (in progress)."""

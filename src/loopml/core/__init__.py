"""Core: entities, ids, hashing, errors, config. Standard library plus pydantic at most."""

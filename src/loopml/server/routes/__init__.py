"""The API's routes, one small module per resource; ``create_app`` mounts them under /api/v1."""

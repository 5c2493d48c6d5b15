"""The dashboard's pages, one module each. A page module exposes ``SLUGS`` (the navigation
slugs it serves: "" for the runs page) and ``add_routes(router, sources, guarded)``, which adds
its routes to ``router``, each with ``dependencies=guarded(permission)``. A navigation entry no
module serves yet is a page that says it is not built yet (see ``router.py``)."""

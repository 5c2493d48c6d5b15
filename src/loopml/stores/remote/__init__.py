"""The remote backends: :class:`HttpMetadataStore` and :class:`HttpArtifactStore` implement the
store interfaces over the ``loopml server`` HTTP API (``/api/v1``). Opened by the URI registry for
``http://`` and ``https://`` URIs; import the modules directly, this package stays empty."""

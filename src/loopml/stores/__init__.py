"""Stores: the metadata and artifact store interfaces, their backends chosen by URI scheme,
and the remote (HTTP) client that implements the same interfaces."""

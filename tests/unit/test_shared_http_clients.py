"""The shared HTTP clients: one per (server, headers); TLS verification with the CA bundle for
https, no CA bundle loaded for plain http (whose transport speaks no TLS at all)."""

from __future__ import annotations

import ssl

import httpx

from loopml.stores.remote.connections import SharedHttpClients
from loopml.stores.remote.http import ApiClient
from loopml.stores.remote.plain_http import PlainHttpTransport


def _context(client: httpx.Client) -> ssl.SSLContext:
    transport = client._transport
    assert isinstance(transport, httpx.HTTPTransport)
    context = transport._pool._ssl_context
    assert context is not None
    return context


def test_https_verifies_against_the_ca_bundle_and_http_loads_none() -> None:
    clients = SharedHttpClients()
    secure = _context(clients.get("https://loopml.example.com/api/v1", {}))
    assert secure.verify_mode is ssl.CERT_REQUIRED and secure.check_hostname
    assert secure.cert_store_stats()["x509_ca"] > 0
    plain = clients.get("http://127.0.0.1:5000/api/v1", {})
    assert isinstance(plain._transport, PlainHttpTransport)
    # the CA bundle is loaded once per process, not per server
    other = _context(clients.get("https://other.example.com/api/v1", {}))
    assert other is secure
    clients.close_all()


def test_stores_on_one_server_share_one_client_and_a_token_gets_its_own() -> None:
    first = ApiClient("http://127.0.0.1:5000")
    second = ApiClient("http://127.0.0.1:5000/api/v1/")
    with_token = ApiClient("http://127.0.0.1:5000", token="s3cret")
    assert first._client is second._client
    assert with_token._client is not first._client
    assert with_token._client.headers["Authorization"] == "Bearer s3cret"

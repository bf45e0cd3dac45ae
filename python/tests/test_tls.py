"""TLS and mutual TLS servers reached from valkey-py with vtf's generated certificates."""

import ssl

import pytest
import valkey

import vtf


def test_tls_server_from_valkey_py(valkey_server_factory) -> None:
    server = valkey_server_factory(tls="on")
    assert server.tls_ca_cert and server.tls_client_cert and server.tls_client_key
    assert server.client().ping()
    assert server.client().config_get("tls-port")["tls-port"] == str(server.port)
    # A plain-text client is not served: the port speaks TLS only.
    with pytest.raises(valkey.exceptions.ConnectionError):
        valkey.Valkey(host=server.host, port=server.port, socket_timeout=5).ping()


def test_tls_client_must_trust_the_ca(valkey_server_factory) -> None:
    server = valkey_server_factory(tls="on")
    untrusting = valkey.Valkey(host=server.host, port=server.port, ssl=True, ssl_cert_reqs="required",
                               ssl_ca_certs=ssl.get_default_verify_paths().cafile or None, socket_timeout=5)
    with pytest.raises(valkey.exceptions.ConnectionError, match="(?i)certificate"):
        untrusting.ping()


def test_mutual_tls_needs_the_client_certificate(valkey_server_factory) -> None:
    server = valkey_server_factory(tls=vtf.TlsMode.MUTUAL)
    assert server.client().config_get("tls-auth-clients")["tls-auth-clients"] == "yes"
    assert server.client().set("k", "v")
    without_cert = valkey.Valkey(host=server.host, port=server.port, ssl=True, ssl_ca_certs=server.tls_ca_cert,
                                 ssl_cert_reqs="required", socket_timeout=5)
    with pytest.raises(valkey.exceptions.ConnectionError):
        without_cert.ping()


def test_tls_replication(valkey_replication_factory) -> None:
    group = valkey_replication_factory(replicas=1, tls="mutual")
    group.primary.client().set("k", "over tls")
    group.wait_sync(timeout=10)
    assert group.replicas[0].client().get("k") == b"over tls"


def test_asyncio_clients_take_the_same_keyword_arguments(valkey_server_factory) -> None:
    """valkey.asyncio gets in with client_kwargs() too: mutual TLS, the CA and the password."""
    import asyncio

    import valkey.asyncio

    server = valkey_server_factory(tls="mutual")

    async def round_trip() -> bytes:
        client = valkey.asyncio.Valkey(**server.client_kwargs())
        try:
            await client.set("async-key", "v")
            value = await client.get("async-key")
            assert isinstance(value, bytes)
            return value
        finally:
            await client.aclose()

    assert asyncio.run(round_trip()) == b"v"
    assert server.client().get("async-key") == b"v"

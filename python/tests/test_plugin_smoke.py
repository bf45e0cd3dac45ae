"""The plugin's plain fixtures: one server per test, factories, marker settings."""

import pytest

import vtf


def test_valkey_server_fixture(valkey_server: vtf.Server) -> None:
    assert valkey_server.client().ping()


@pytest.mark.valkey(args={"maxmemory": "2mb"})
def test_marker_settings(valkey_server: vtf.Server) -> None:
    assert valkey_server.client().config_get("maxmemory")["maxmemory"] == str(2 * 1024 * 1024)


def test_factory(valkey_server_factory) -> None:
    a = valkey_server_factory()
    b = valkey_server_factory(args={"databases": "4"})
    assert a.port != b.port
    assert b.client().config_get("databases")["databases"] == "4"

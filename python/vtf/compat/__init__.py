"""vtf.compat: valkey-test-framework's Python API on vtf's engine.

A suite written for valkey-test-framework (its `valkey_test_case`,
`conftest` and `util.waiters`), or for the older `valkeytests` package module
repositories vendor, runs on vtf by changing its imports only:

    from valkey_test_case import ValkeyTestCase        ->  from vtf.compat.valkey_test_case import ValkeyTestCase
    from conftest import resource_port_tracker         ->  from vtf.compat.conftest import resource_port_tracker
    from util.waiters import *                         ->  from vtf.compat.util.waiters import *
    from valkeytests.valkey_test_case import ...       ->  from vtf.compat.valkey_test_case import ...

See valkey_test_case.py for what differs from upstream (on purpose).
"""

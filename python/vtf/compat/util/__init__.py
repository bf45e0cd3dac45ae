"""vtf.compat.util: the `util` package of valkey-test-framework (its waiters)."""

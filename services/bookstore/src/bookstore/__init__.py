"""The bookstore's own pieces beside its services: invariants, seed, workloads.

Plugged into `msa check` and `msa up` through system.toml; services never import it.
"""

"""The developer's and operator's tooling, apart from the runtime library.

What runs in a deployed service is `msa` outside this package (the app factory,
messaging, sagas, clients, settings, metrics, tracing). Here is what runs around
services: the local runner (`msa up`), the CLI, the chaos harness and the invariant
checkers' driver, the generators of docs, monitoring, manifests, images and CI, the
scaffold, contract checks and test helpers. Service images leave this package out;
`platform/tests/test_layers.py` keeps runtime modules from importing it.
"""

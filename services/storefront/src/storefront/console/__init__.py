"""The operations console at `/console`: what an operator needs when something goes wrong.

Administrators only (the API's identity service says who is one). The console reads
the running system as the `msa` command line does: system.toml, the runner's state,
each instance's health, metrics and traces, the orchestrators' `/internal/sagas`
routes, JetStream and the system's invariant checks, signed as the operator.
"""

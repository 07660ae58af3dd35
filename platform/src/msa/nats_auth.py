"""Who may publish and subscribe what on NATS: one user per service, derived from system.toml.

Every service that publishes or consumes connects as its own NATS user, whose
password lives in `<data dir>/secrets/nats/<user>.password` (mode 0600; the runner
creates them, a deployment mounts them). NATS itself enforces what each user may do:

- publish: the events the service declares in `publishes`; its consumers' dead
  letters (`dlq.<consumer>`); and the JetStream API calls its relay and consumers make
  (create or look at the streams it publishes to or consumes from and the dead-letter
  stream, create and pull its own durable consumers, acknowledge their messages);
- subscribe: the events it `consumes`, and replies on its own inbox prefix
  (`_INBOX_<user>.>`), so no service can read another's replies.

The operator's tools (`msa check`, `dlq`, `sagas`, `chaos`) connect as `operator`,
with no restriction. A connection without credentials is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from msa.events import DLQ_STREAM, DLQ_SUBJECT_PREFIX, stream_name

if TYPE_CHECKING:
    from msa.system import System

OPERATOR_USER = "operator"
_FOLDER = ("secrets", "nats")


def uses_nats(system: System, service: str) -> bool:
    spec = system.service(service)
    return bool(spec.publishes or spec.consumes)


def nats_users(system: System) -> list[str]:
    """Every NATS user of the system: the services that use NATS, and the operator."""
    return [name for name in system.services if uses_nats(system, name)] + [OPERATOR_USER]


def inbox_prefix(user: str) -> str:
    """Where replies to `user`'s requests arrive: a prefix only that user may subscribe to."""
    return f"_INBOX_{user}"


def consumer_name(service: str, event_type: str) -> str:
    """The durable consumer of `service` for `event_type` (as `msa.messaging` names it)."""
    return f"{service}__{event_type.replace('.', '_')}"


def service_permissions(system: System, service: str) -> dict[str, Any]:
    """The NATS `permissions` block of `service`'s user."""
    spec = system.service(service)
    api = "$JS.API"
    streams = {stream_name(service)} if spec.publishes else set()
    publish = list(spec.publishes)
    subscribe = [f"{inbox_prefix(service)}.>"]
    for event_type in spec.consumes:
        stream = stream_name(event_type.split(".", 1)[0])
        durable = consumer_name(service, event_type)
        streams |= {stream, DLQ_STREAM}
        publish += [f"{api}.CONSUMER.INFO.{stream}.{durable}",
                    f"{api}.CONSUMER.CREATE.{stream}.{durable}",
                    f"{api}.CONSUMER.CREATE.{stream}.{durable}.>",
                    f"{api}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
                    f"{api}.CONSUMER.MSG.NEXT.{stream}.{durable}",
                    f"$JS.ACK.{stream}.{durable}.>",
                    f"{DLQ_SUBJECT_PREFIX}.{durable}"]
        subscribe.append(event_type)
    publish.append(f"{api}.INFO")
    for stream in sorted(streams):
        publish += [f"{api}.STREAM.INFO.{stream}", f"{api}.STREAM.CREATE.{stream}",
                    f"{api}.STREAM.UPDATE.{stream}"]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def streams_of(system: System, service: str) -> set[str]:
    """The streams `service` may create: its own, those it consumes from, the dead letters."""
    allowed = service_permissions(system, service)["publish"]["allow"]
    prefix = "$JS.API.STREAM.CREATE."
    return {subject[len(prefix):] for subject in allowed if subject.startswith(prefix)}


def server_authorization(system: System, passwords: dict[str, str]) -> str:
    """The `authorization` block of the NATS server configuration."""
    users = []
    for user in nats_users(system):
        entry: dict[str, Any] = {"user": user, "password": passwords[user]}
        if user != OPERATOR_USER:
            entry["permissions"] = service_permissions(system, user)
        users.append(entry)
    return "authorization " + json.dumps({"users": users}, indent=2) + "\n"


def password_file(data_dir: str | Path, user: str) -> Path:
    return Path(data_dir).joinpath(*_FOLDER, f"{user}.password")


def ensure_passwords(data_dir: Path, users: list[str]) -> dict[str, str]:
    """Read each user's password, creating the missing ones (mode 0600)."""
    folder = data_dir.joinpath(*_FOLDER)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = {}
    for user in users:
        path = password_file(data_dir, user)
        with contextlib.suppress(FileNotFoundError):
            found[user] = path.read_text(encoding="utf-8").strip()
        if not found.get(user):
            found[user] = secrets.token_urlsafe(24)
            temporary = path.with_name(f".{path.name}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(found[user] + "\n")
            os.replace(temporary, path)
    return found


def credentials(data_dir: str | Path | None, user: str) -> tuple[str, str] | None:
    """(user, password) when `user` has a password in the data folder, else None."""
    if not data_dir:
        return None
    try:
        password = password_file(data_dir, user).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return (user, password) if password else None


def operator_url(url: str, data_dir: str | Path | None) -> str:
    """`url` with the operator's credentials, when the data folder holds them."""
    found = credentials(data_dir, OPERATOR_USER)
    if found is None:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = f"{quote(found[0], safe='')}:{quote(found[1], safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))

"""SQLAlchemy Core tables of the platform (created by `msa/migrations`)."""

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

outbox = Table(
    "msa_outbox", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("aggregate", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
)

inbox = Table(
    "msa_inbox", metadata,
    Column("consumer", Text, primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True)),
)

idempotency = Table(
    "msa_idempotency", metadata,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

saga = Table(
    "msa_saga", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("saga_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("error", Text),
    Column("owner", Text),
    Column("lease_until", DateTime(timezone=True)),
    Column("fence", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

saga_step = Table(
    "msa_saga_step", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("saga_id", UUID(as_uuid=True), nullable=False),
    Column("step", Text, nullable=False),
    Column("direction", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("detail", Text),
    Column("driver", Text, nullable=False),
    Column("fence", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

"""The NATS server: JetStream on, durable syncs, clean stop, data kept across restarts."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import nats
import psutil

from msa.tools.runner.nats import NatsServer
from msa.tools.runner.ports import free_port, port_is_free


def _server(tmp_path: Path) -> NatsServer:
    return NatsServer(tmp_path / "nats", port=free_port(), monitor_port=free_port())


def test_jetstream_is_ready_fast_and_syncs_every_write(tmp_path: Path) -> None:
    server = _server(tmp_path)
    began = time.monotonic()
    server.start()
    try:
        assert time.monotonic() - began < 5
        with urllib.request.urlopen(server.monitor_url + "/varz", timeout=2) as response:
            config = json.load(response)["jetstream"]["config"]
        assert config["sync_always"] is True
        assert config["store_dir"].startswith(str(tmp_path / "nats"))
    finally:
        server.stop()


def test_stop_leaves_no_process_and_no_port(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.start()
    pid = server.pid
    assert pid is not None

    server.stop()

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert port_is_free(server.port) and port_is_free(server.monitor_port)


async def test_streams_survive_a_restart(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.start()
    try:
        client = await nats.connect(server.url)
        js = client.jetstream()
        await js.add_stream(name="KEEP", subjects=["keep.>"])
        await js.publish("keep.one", b"hello")
        await client.close()

        server.stop()
        server.start()

        client = await nats.connect(server.url)
        info = await client.jetstream().stream_info("KEEP")
        await client.close()
        assert info.state.messages == 1
    finally:
        server.stop()


def test_the_session_fixture_serves_jetstream(msa_nats: str) -> None:
    assert msa_nats.startswith("nats://127.0.0.1:")

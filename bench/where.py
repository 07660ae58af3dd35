"""Where a checkout's CPU goes, process by process.

    python -m bench.where [--mode process|monolith] [--seconds 15] [--idle 10]

Starts our system, warms it up, reads what each process spends idle (background
loops: relays, recovery, gauges, consumers' polls) over `--idle` seconds, then runs
the closed-loop checkout of figure 1 for `--seconds` and prints CPU ms per completed
checkout for each service process, PostgreSQL (every backend, exited ones included)
and NATS, with the share of it that is system time (the kernel: sockets, fsync) and
the idle cost at the same rate, so a background loop cannot pass for checkout work.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.drive import drive
from bench.figures.checkout import Profile
from bench.measure import TICK, cpu_seconds, ticks, tree
from bench.ours import OurSystem


def _own(pid: int) -> tuple[float, float]:
    """(user + system, system) seconds of a process and its live descendants (a
    monolith's workers), what they reaped not included."""
    own = [ticks(member)[:2] for member in tree([pid])]
    return sum(u + s for u, s in own) / TICK, sum(s for _, s in own) / TICK


def _reading(system: OurSystem) -> dict[str, tuple[float, float]]:
    assert system.runner is not None
    state = system.runner.status()
    found = {i.name: _own(i.pid) for i in state.instances if i.pid}
    servers = {"PostgreSQL": state.postgres, "NATS": state.nats}
    for name, server in servers.items():
        if server is not None and server.pid:
            found[name] = (cpu_seconds([server.pid]), 0.0)
    return found


def _change(after: dict[str, tuple[float, float]], before: dict[str, tuple[float, float]]
            ) -> dict[str, tuple[float, float]]:
    return {name: (value[0] - before.get(name, (0.0, 0.0))[0],
                   value[1] - before.get(name, (0.0, 0.0))[1]) for name, value in after.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.where",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["process", "monolith"], default="process")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args(argv)
    system = OurSystem(args.mode, customers=64)
    system.start()
    try:
        drive({**system.job(), "seconds": 1, "workers": 32, "warmup": Profile.warmup},
              system.roots)
        time.sleep(2)  # the warm-up's events and sagas settle
        start = _reading(system)
        time.sleep(args.idle)
        idle = _change(_reading(system), start)
        confirmed = asyncio.run(system.confirmed())
        start = _reading(system)
        found = drive({**system.job(), "seconds": args.seconds, "workers": 32}, system.roots)
        busy = _change(_reading(system), start)
        done = asyncio.run(system.confirmed()) - confirmed
    finally:
        system.stop()
    rate = done / found["seconds"]
    print(f"{args.mode}: {done} checkouts in {found['seconds']:.1f} s ({rate:.1f}/s); "
          "CPU ms per checkout:")
    print(f"  {'process':18s} {'all':>7s} {'system':>7s} {'idle at this rate':>18s}")
    total = 0.0
    for name, (cpu, kernel) in sorted(busy.items(), key=lambda item: -item[1][0]):
        per = 1000 * cpu / done
        total += per
        idle_per = 1000 * idle.get(name, (0.0, 0.0))[0] / args.idle / rate
        kernel_text = f"{1000 * kernel / done:7.2f}" if kernel else f"{'-':>7s}"
        print(f"  {name:18s} {per:7.2f} {kernel_text} {idle_per:18.2f}")
    print(f"  {'total':18s} {total:7.2f}")


if __name__ == "__main__":
    main()

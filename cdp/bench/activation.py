"""`cdp bench activation`: how fast segment membership follows the data.

One invocation, on one broker and one Postgres (embedded under a temporary CDP home unless
CDP_KAFKA_BOOTSTRAP_SERVERS and CDP_DATABASE_URL are set; each part gets its own database and
topics either way), measures:

1. Latency (`cdp.bench.membership_latency`): events offered at a fixed rate to a processor and a
   relay; each membership entry timed from its triggering event's produce() to its arrival on
   `cdp.segments.membership`.
2. Backfill (`cdp.bench.backfill`): profiles bulk-loaded with COPY, a new segment applied, one
   scheduler pass timed until every membership row and outbox record is written.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cdp.bench.activation_report import ActivationReport, load_average
from cdp.bench.backfill import measure_backfill
from cdp.bench.environment import bench_database, run_phase, service_processes, temporary_home
from cdp.bench.membership_latency import measure_membership_latency
from cdp.bench.report import machine_info
from cdp.embedded import free_port
from cdp.kafka import wait_for_broker
from cdp.schemas import codec_for
from cdp.settings import load_settings
from cdp.stack import EmbeddedServices

__all__ = ["ActivationOptions", "run_activation_bench"]


@dataclass(frozen=True, slots=True)
class ActivationOptions:
    """What `cdp bench activation` is asked to do."""

    rate: float = 5_000.0
    """Offered events/s in the latency run."""
    latency_seconds: float = 20.0
    """Seconds of paced load; 0 skips the latency run."""
    profiles: int = 1_000_000
    """Profiles the backfill runs over; 0 skips it."""
    relay_poll_ms: int | None = None
    """The relay's idle poll; None leaves it to the settings (CDP_RELAY_POLL_MS)."""
    seed: int = 1


def run_activation_bench(
    options: ActivationOptions, announce: Callable[[str], None] = print
) -> ActivationReport:
    """Start the services, run both measurements, stop everything; the figures of the run."""
    started_at = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    with temporary_home() as home:
        services = EmbeddedServices(load_settings(home=home, embedded_kafka_port=free_port()))
        try:
            announce("starting Kafka and Postgres ...")
            resolved = services.start()
            wait_for_broker(resolved)
            if options.relay_poll_ms is not None:
                resolved = resolved.model_copy(update={"relay_poll_ms": options.relay_poll_ms})
            codec = codec_for(resolved)
            watched = service_processes(services)
            external = services.broker is None
            latency = backfill = None
            if options.latency_seconds > 0:
                announce(
                    f"latency: {options.rate:,.0f} events/s for {options.latency_seconds:g} s ..."
                )
                with (
                    bench_database(resolved, f"cdp_bench_{run_id}_latency") as settings,
                    run_phase(settings, run_id, "activation", external) as phased,
                ):
                    latency = measure_membership_latency(
                        phased,
                        codec,
                        run_id,
                        options.rate,
                        options.latency_seconds,
                        home / "logs" / "latency",
                        watched,
                    )
            if options.profiles > 0:
                announce(f"backfill: loading {options.profiles:,} profiles with COPY ...")
                with (
                    bench_database(resolved, f"cdp_bench_{run_id}_backfill") as settings,
                    run_phase(settings, run_id, "backfill", external) as phased,
                ):
                    backfill = measure_backfill(phased, options.profiles, options.seed, watched)
        finally:
            services.stop()
    return ActivationReport(
        started_at=started_at,
        options={
            "rate": options.rate,
            "latency_seconds": options.latency_seconds,
            "profiles": options.profiles,
            "relay_poll_ms": resolved.relay_poll_ms,
            "batch_wait_ms": resolved.processor_batch_wait_ms,
            "seed": options.seed,
        },
        latency=latency,
        backfill=backfill,
        services={
            "kafka": "embedded tansu" if services.broker is not None else "external",
            "postgres": "embedded" if services.postgres is not None else "external",
        },
        machine=machine_info(),
        load_average=load_average(),
    )

"""`cdp demo`: stream e-commerce journeys into a running stack and say where to look."""

from __future__ import annotations

import typer

from cdp.cli.common import fail, settings_for_command
from cdp.errors import CdpError


def demo(
    customers: int = typer.Option(20, min=1, max=10_000, help="How many customers to make up."),
    write_key: str = typer.Option(
        "",
        envvar="CDP_DEMO_WRITE_KEY",
        help="A source's write key; default: the dev key of `cdp up`.",
    ),
    seed: int = typer.Option(7, help="Seed of the made-up customers and their journeys."),
    listen: float = typer.Option(
        20.0,
        min=0,
        help="Seconds at most to print deliveries to the demo's local webhook receiver; it "
        "stops once they stop (0: no receiver).",
    ),
) -> None:
    """Anonymous browsing, a campaign click, sign-up, purchase, a support ticket and a second
    device, through the collector's HTTP API of the running `cdp up` (or the configured one)."""
    from cdp.demo import DemoPlan, run_demo
    from cdp.embedded import read_state
    from cdp.stack import dev_write_key

    settings = settings_for_command()
    state = read_state(settings.home)
    collector_url = (
        state.collector_url
        if state is not None
        else f"http://{settings.collector_host}:{settings.collector_port}"
    )
    try:
        key = write_key or dev_write_key(settings)
        plan = DemoPlan(
            collector_url=collector_url,
            api_url=f"http://{settings.api_host}:{settings.api_port}",
            write_key=key,
            api_token=settings.api_token.get_secret_value(),
            customers=customers,
            seed=seed,
            listen_s=listen,
        )
        run_demo(settings, plan, typer.echo)
    except CdpError as exc:
        fail(str(exc))

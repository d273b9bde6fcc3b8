"""`party-engine`: one command for every role, and tokens for trying the API."""

import sys
from datetime import timedelta
from typing import Annotated

import typer
from pydantic import ValidationError

from .config import DEV_JWT_SECRET, Settings, describe_error
from .roles import ALL_ROLES, Role
from .tokens import UserRole, issue_token

app = typer.Typer(
    help="Live themed shopping parties: HTTP API, WebSocket gateway, workers and clock.",
    no_args_is_help=True,
    add_completion=False,
)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        typer.echo(f"party-engine: bad settings: {describe_error(error)}", err=True)
        raise typer.Exit(2) from None


def _announce(settings: Settings) -> None:
    if settings.log_format != "console":  # JSON lines only: uvicorn logs where it listens
        return
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(
        f"Party engine on {base}  (API docs: {base}/docs, WebSocket: ws://{settings.host}:{settings.port}/ws)"
    )
    typer.echo(f"Host console: {base}/  (sign in with a token from `party-engine token`)")
    if settings.jwt_secret == DEV_JWT_SECRET:
        token = issue_token(settings.jwt_secret, "host-1", UserRole.HOST)
        typer.echo("Embedded default with the development secret. A host token for trying the API:")
        typer.echo(f"  export TOKEN={token}")


@app.command()
def serve() -> None:
    """Run a gateway: the HTTP API and WebSocket sessions."""
    from .server import run

    settings = _settings()
    _announce(settings)
    run(settings, frozenset({Role.GATEWAY}))


@app.command()
def scheduler() -> None:
    """Run the party clock: starts and ends parties on time, sends reminders. Run several for
    availability; one leads at a time (a Redis lease)."""
    import asyncio

    from .server import run_headless

    asyncio.run(run_headless(_settings(), frozenset({Role.SCHEDULER})))


@app.command()
def worker() -> None:
    """Run a worker: counters, leaderboards and seller notices from the event queue. Run as
    many as the load needs; each event is applied once whichever worker gets it."""
    import asyncio

    from .server import run_headless

    asyncio.run(run_headless(_settings(), frozenset({Role.WORKER})))


@app.command()
def relay() -> None:
    """Run a relay: hands the events of acknowledged shares and likes from the parties'
    outboxes in Redis to RabbitMQ. Run several for availability; a dead relay's events are
    taken over by another."""
    import asyncio

    from .server import run_headless

    asyncio.run(run_headless(_settings(), frozenset({Role.RELAY})))


@app.command()
def archive() -> None:
    """Run an archive worker: writes every event of the pipeline to PARTY_ARCHIVE_URL as
    Parquet, in batches per party. Run several if one cannot keep up; readers de-duplicate."""
    import asyncio

    from .server import run_headless

    asyncio.run(run_headless(_settings(), frozenset({Role.ARCHIVE})))


@app.command(name="all")
def run_all() -> None:
    """Run every role in one process (what `make run` uses on the embedded default)."""
    from .server import run

    settings = _settings()
    _announce(settings)
    run(settings, ALL_ROLES)


@app.command()
def token(
    user: Annotated[str, typer.Option(help="The user id (the token's `sub`).")],
    role: Annotated[UserRole, typer.Option(help="host or shopper.")] = UserRole.SHOPPER,
    ttl_hours: Annotated[float, typer.Option(min=0.01, help="Lifetime in hours.")] = 24.0,
) -> None:
    """Print a signed token (HS256 with PARTY_JWT_SECRET) for trying the API."""
    settings = _settings()
    rules = settings.token_rules
    ttl = timedelta(hours=ttl_hours)
    typer.echo(
        issue_token(rules.secret, user, role, ttl, issuer=rules.issuer, audience=rules.audience)
    )


def main() -> None:
    sys.exit(app())

"""`ioc relay`: run one conferencing relay (optionally cascaded under a parent relay)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated, Optional

import typer

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the `relay` command to the `ioc` CLI."""

    @app.command("relay")
    def relay(
        unit: Annotated[str, typer.Option("--unit", help="administrative unit code this relay serves")],
        port: Annotated[int, typer.Option("--port", help="signalling port (0: any free port)")] = 8700,
        host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
        parent: Annotated[Optional[str], typer.Option("--parent", help="parent relay URL, ws://host:port/ws")] = None,
        token: Annotated[
            Optional[str], typer.Option("--token", help="relay join token for the parent (else minted from IOC_RELAY_SECRET)")
        ] = None,
        room: Annotated[
            Optional[list[str]], typer.Option("--room", help="meeting to link to the parent at start (repeatable)")
        ] = None,
        video_codec: Annotated[str, typer.Option("--video-codec", help="VP8 or H264")] = "VP8",
        hub_url: Annotated[Optional[str], typer.Option("--hub-url", help="hub base URL for attendance reports")] = None,
        hub_token: Annotated[
            Optional[str], typer.Option("--hub-token", help="bearer token for attendance (or IOC_RELAY_HUB_TOKEN)")
        ] = None,
        record_dir: Annotated[Optional[str], typer.Option("--record-dir", help="record each room's chair view to MP4 here")] = None,
    ) -> None:
        """Serve meetings for UNIT: forward media without re-encoding, join the parent relay if given."""
        from pydantic import ValidationError

        from conferencing.config import RelayConfig
        from conferencing.server import Relay
        from contract.exceptions import TokenError
        from contract.tokens import verify_join_token

        rooms = list(room or [])
        if token and not rooms:
            # The token names the parent's room: link it at once.
            try:
                rooms = [verify_join_token(token).room]
            except TokenError as exc:
                raise typer.BadParameter(f"--token is not usable: {exc}") from exc
        try:
            config = RelayConfig(
                unit=unit,
                host=host,
                port=port,
                parent_url=parent,
                parent_token=token,
                parent_rooms=rooms,
                video_codec=video_codec.upper(),  # type: ignore[arg-type]
                hub_url=hub_url,
                hub_token=hub_token,
                record_dir=record_dir,
            )
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise typer.BadParameter(reasons) from exc
        asyncio.run(_serve(Relay(config)))


async def _serve(relay: object) -> None:
    from conferencing.server import Relay

    assert isinstance(relay, Relay)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await relay.start()
    print(f"relay {relay.config.unit} ready on {relay.url}", flush=True)
    await stop.wait()
    await relay.stop()

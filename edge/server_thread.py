"""The gate's own web servers (gate displays, guards' panel) run uvicorn on a thread of the gate
process; stopping one is the same for both."""

from __future__ import annotations

import threading

import uvicorn


def stop_server(server: uvicorn.Server, thread: threading.Thread, timeout: float) -> None:
    """Ask uvicorn to finish its requests; force it when it has not within `timeout` seconds."""
    server.should_exit = True
    thread.join(timeout)
    if thread.is_alive():
        server.force_exit = True
        thread.join(timeout)

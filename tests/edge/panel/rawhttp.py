"""Raw HTTP requests with bodies that never end, for the body-limit tests (stdlib only).

`python -m tests.edge.panel.rawhttp PORT SECONDS CLIENTS COOKIE CSRF` floods a panel from its
own process (so the flood's own work does not count against the gate's) and prints one JSON
list of [status, bytes sent] per request.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat

MB = 1024 * 1024
HUGE = 400_000_000  # what the attack in the issue declared
GARBAGE = b'{"reason": "' + "门".encode() * 80_000  # never-ending JSON, 240 KB a piece
FORM = "application/x-www-form-urlencoded"


@dataclass
class Pushed:
    """What one raw request got: the status (None: no answer in time), its head, bytes sent
    and the peak of `sample` while sending."""

    status: int | None
    head: str
    sent: int
    peak: int


def chunked(piece: bytes) -> Iterator[bytes]:
    """An endless chunked body."""
    return repeat(b"%x\r\n%s\r\n" % (len(piece), piece))


def request_head(path: str, *, content_type: str = "application/json",
                 length: int | None = None, cookie: str = "", csrf: str = "") -> bytes:
    """A POST head; without `length` the body is chunked."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {length}" if length is not None
                 else "Transfer-Encoding: chunked")
    if cookie:
        lines.append(f"Cookie: gridgate_session={cookie}")
    if csrf:
        lines.append(f"X-CSRF-Token: {csrf}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def push(port: int, head: bytes, body: Iterator[bytes], *, budget: int, timeout: float,
         sample: Callable[[], int] = lambda: 0) -> Pushed:
    """Send `head`, then `body` until an answer comes, `budget` bytes are sent or `timeout`
    passes, calling `sample` all along."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    pending, sent, reply, peak = head, 0, b"", sample()
    sending = True
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and b"\r\n\r\n" not in reply:
            readable, writable, _ = select.select([sock], [sock] if sending else [], [], 0.05)
            peak = max(peak, sample())
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionError:
                    break
                if not data:
                    break
                reply += data
                sending = False  # answered: the rest of the body is never sent
            if writable and sending:
                if not pending:
                    if sent >= budget:
                        sending = False
                        continue
                    pending = next(body)
                try:
                    n = sock.send(pending)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionError:
                    sending = False
                    continue
                pending, sent = pending[n:], sent + n
    finally:
        sock.close()
    head_text = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status = int(head_text.split()[1]) if head_text.startswith("HTTP/1.1 ") else None
    return Pushed(status, head_text, sent, max(peak, sample()))


def attacks(cookie: str, csrf: str) -> list[tuple[bytes, Callable[[], Iterator[bytes]]]]:
    """Large and garbage bodies, anonymous and with a guard's session."""
    return [
        (request_head("/api/doors/in-cam/open", length=HUGE), lambda: repeat(GARBAGE)),
        (request_head("/api/doors/in-cam/open"), lambda: chunked(GARBAGE)),
        (request_head("/door/in-cam/mode", content_type=FORM, length=HUGE),
         lambda: repeat(b"x" * 65536)),
        (request_head("/login", content_type=FORM), lambda: chunked(b"name=" + b"y" * 65536)),
        (request_head("/api/doors/in-cam/mode", cookie=cookie, csrf=csrf),
         lambda: chunked(GARBAGE)),
        (request_head("/api/visitors", length=HUGE, cookie=cookie, csrf=csrf),
         lambda: repeat(GARBAGE)),
    ]


def flood(port: int, seconds: float, clients: int, cookie: str, csrf: str, *,
          budget: int = 8 * MB, timeout: float = 3.0) -> list[Pushed]:
    """`clients` threads, each sending one attack after the other for `seconds`."""
    kinds = attacks(cookie, csrf)
    results: list[Pushed] = []
    end = time.monotonic() + seconds

    def client(i: int) -> None:
        n = i
        while time.monotonic() < end:
            head, body = kinds[n % len(kinds)]
            results.append(push(port, head, body(), budget=budget, timeout=timeout))
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


if __name__ == "__main__":
    port, seconds, clients, cookie, csrf = sys.argv[1:6]
    sys.stdout.write(json.dumps([[p.status, p.sent] for p in flood(
        int(port), float(seconds), int(clients), cookie, csrf)]))

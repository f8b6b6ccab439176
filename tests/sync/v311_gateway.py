"""A TCP gateway in front of a real Mosquitto that speaks for an MQTT 3.1.1-only broker.

Mosquitto cannot be told to refuse MQTT 5, so this forwards 3.1.1 connections untouched and
answers a version 5 CONNECT exactly as a 3.1.1 broker must (MQTT 3.1.1 section 3.2.2.3:
CONNACK with return code 1, "unacceptable protocol version", then close).
"""

from __future__ import annotations

import contextlib
import socket
import threading

REFUSE_VERSION = bytes([0x20, 0x02, 0x00, 0x01])


class V311Gateway:
    """Listens on a free loopback port; `refused` counts version 5 attempts turned away."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.refused = 0
        self.forwarded = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        first = client.recv(65536)
        at = first.find(b"\x00\x04MQTT")
        if at < 0 or len(first) <= at + 6:
            client.close()
            return
        if first[at + 6] == 5:
            self.refused += 1
            client.sendall(REFUSE_VERSION)
            client.close()
            return
        self.forwarded += 1
        upstream = socket.create_connection(("127.0.0.1", self.broker_port))
        upstream.sendall(first)
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)

    def close(self) -> None:
        self._closing = True
        self.listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

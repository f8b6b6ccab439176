"""Someone with write access to the broker floods a gate's document topics, in its own process.

    python -m tests.sync.attacker PORT PREFIX COMPOUND GATE PLATFORM_KID [MB_PER_S]

publishes large forged documents (8-15 MB) with QoS 0 at MB_PER_S (default 110: what a gigabit
link carries, a Pi 4's Ethernet; the broker and this process share the test machine's cores
with the gate, so an unpaced loopback flood would measure their CPU, not the gate), until
killed: unsigned roster documents, envelopes signed by a key the gate does not know, envelopes
that name the platform's key (it is public: every retained document carries it) with a wrong
signature, in the wire forms the gate accepts, and envelopes padded outside the signed payload.
It prints `ready` once its payloads are built and it is connected. A process of its own, like
a real attacker: its CPU and memory are not the gate's. It writes prebuilt MQTT 3.1.1 packets
to its socket, so it costs the machine little more than the kernel's copy.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import time

from gate.passes import generate_signing_key
from sync.topics import DocumentKind, Topics

MB = 1024 * 1024
FACE = "[" + ",".join(f"{0.001 * (i % 97) - 0.05:.9f}" for i in range(128)) + "]"


def roster_text(size: int, compound: str) -> str:
    """A roster snapshot document (JSON text) of about `size` bytes, faces included."""
    person = ('{"person_id":"p-%d","household_id":"h-%d","grid_id":"grid-7","name":"x",'
              '"face_encodings":[' + FACE + "]}")
    count = size // len(person % (0, 0))
    persons = ",".join(person % (i, i // 3) for i in range(count))
    return ('{"type":"document","document":"roster","mode":"snapshot","compound_id":"'
            + compound + '","version":999999,"issued_at":"2026-11-22T08:00:00Z",'
            '"body":{"grids":[],"households":[],"persons":[' + persons + "]}}")


def payloads(compound: str, platform_kid: str) -> list[bytes]:
    stranger = generate_signing_key().key_id
    junk_signature = base64.b64encode(os.urandom(64)).decode()
    out: list[bytes] = []
    for index, mb in enumerate((8, 15, 11, 13, 9, 14, 10, 12)):
        text = roster_text(mb * MB, compound)
        kind = index % 4
        if kind == 0:  # an unsigned document: no envelope at all
            out.append(text.encode())
        elif kind == 1:  # the JSON envelope, signed by a key the gate does not know
            out.append(json.dumps({"schema_version": 1, "alg": "EdDSA", "kid": stranger,
                                   "payload": text, "signature": junk_signature}).encode())
        elif kind == 2:  # the platform's key id with a wrong signature, header-line form
            header = json.dumps({"schema_version": 2, "alg": "EdDSA", "kid": platform_kid,
                                 "signature": junk_signature}, separators=(",", ":"))
            out.append(header.encode() + b"\n" + text.encode())
        else:  # the platform's key id, a tiny payload, and the weight outside it
            out.append(('{"schema_version":1,"alg":"EdDSA","kid":"' + platform_kid
                        + '","payload":"{}","signature":"' + junk_signature + '","pad":'
                        + text + "}").encode())
    return out


def publish_packet(topic: str, payload: bytes) -> bytes:
    """An MQTT PUBLISH with QoS 0, built once and written many times."""
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name + payload
    length, remaining = bytearray(), len(body)
    while True:
        byte, remaining = remaining % 128, remaining // 128
        length.append(byte | (128 if remaining else 0))
        if not remaining:
            return b"\x30" + bytes(length) + body


def main() -> None:
    port, prefix, compound, gate, platform_kid = sys.argv[1:6]
    rate = float(sys.argv[6]) * MB if len(sys.argv) > 6 else 110 * MB
    topics = Topics(prefix, compound, gate)
    targets = [topics.documents(DocumentKind.ROSTER), topics.gate_documents(DocumentKind.ROSTER),
               topics.documents(DocumentKind.PERMITS)]
    packets = [publish_packet(targets[i % len(targets)], payload)
               for i, payload in enumerate(payloads(compound, platform_kid))]
    # The packets are written as they are: what the attacker costs the test machine's cores
    # is a kernel copy, not a client library's work.
    sock = socket.create_connection(("127.0.0.1", int(port)))
    client_id = f"attacker-{os.getpid()}".encode()
    connect = (b"\x00\x04MQTT\x04\x02\x00\x00"  # MQTT 3.1.1, clean session, no keepalive
               + len(client_id).to_bytes(2, "big") + client_id)
    sock.sendall(bytes([0x10, len(connect)]) + connect)
    if sock.recv(4)[:1] != b"\x20":
        raise SystemExit("no CONNACK")
    print("ready", flush=True)
    sent, due = 0, time.monotonic()
    while True:
        packet = packets[sent % len(packets)]
        sock.sendall(packet)
        sent += 1
        # Paced, and no catching up after a pause (SIGSTOP): never faster than `rate`.
        due = max(due, time.monotonic()) + len(packet) / rate
        time.sleep(max(0.0, due - time.monotonic()))


if __name__ == "__main__":
    main()

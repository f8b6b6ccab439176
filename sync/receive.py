"""Reading MQTT packets without copying them, and refusing too-large ones before reading them.

paho-mqtt reads a packet with recv() calls of the size still missing, appends each piece to a
growing buffer, then slices the payload out with `struct.unpack` and slicing: every byte is
copied about five times, each copy made holding the interpreter lock (about 20 ms of it for a
15 MB message). Anyone with write access to the broker can send such messages as fast as the
network carries them, and the door's thread then waited for the lock (issue 15). `install`
makes one client read packets with recv_into(), so the kernel copies the bytes once, without
the interpreter lock, into where they stay:

- a small packet into one buffer of its size, decoded by paho's handlers (a PUBLISH by ours,
  which cuts the header off in place: `del buffer[:n]` moves a start pointer);
- a large PUBLISH (over BIG bytes): its header into a small buffer first, then the payload
  into an anonymous memory map of exactly its size, which the kernel fills with zero pages as
  the bytes arrive; a bytearray of that size would be zeroed first, holding the lock for
  milliseconds. The message's payload is then that `mmap.mmap` (len, slices, find, regular
  expressions and memoryview work on it as on bytes);
- a big PUBLISH that `screen(topic, size, first_bytes)` refuses from its first bytes (unsigned,
  an unknown key, a command too large...), or any PUBLISH larger than `max_packet` (MQTT 5
  tells the broker the same limit in CONNECT, so a conforming broker never sends one; an MQTT
  3.1.1 broker cannot be told): the rest of it is read into a small scratch buffer that is
  reused (over TCP on Linux the kernel drops them, MSG_TRUNC), never kept, and
  `on_refused(topic, size, refusal, mid, qos)` is told (refusal: what
  the screen returned, None for a packet over `max_packet`), which acknowledges it once it has
  counted it. Without `on_refused` a QoS 1 message is acknowledged at once: it will never be
  handled, so it must not come back.
"""

from __future__ import annotations

import logging
import mmap
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTTMessage
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

Payload = bytes | bytearray | mmap.mmap  # what a received message's payload may be
Refusal = tuple[str, str, bool]  # as the screen says: reason, detail, a forgery?
Screen = Callable[[str, int, bytes], Refusal | None]
OnRefused = Callable[[str, int, Refusal | None, int, int], None]
PUBLISH = 0x30
BIG = 64 * 1024  # a PUBLISH above this gets its payload read into a memory map
_PEEK = 8 * 1024  # the header of a big PUBLISH is expected within its first bytes
_HEAD = 2 + 65535 + 2  # topic length, the longest topic, packet id: what a refusal reads
_SCRATCH = 1024 * 1024
_LOW_WATER = 512 * 1024  # a big payload is read in pieces of this, one wake-up each
# TCP on Linux: recv(MSG_TRUNC) drops the bytes in the kernel, copying nothing (not over TLS).
_DISCARD = getattr(socket, "MSG_TRUNC", 0)
_READS_PER_CALL = 100  # as paho: return to the network loop now and then
WHOLE, PEEK, BODY, REFUSE, SKIP = range(5)


@dataclass
class _Header:
    topic: bytes
    mid: int
    properties: Properties | None
    end: int  # where the payload starts in the packet


@dataclass
class _Reading:
    """The packet being read, beyond what paho's `_in_packet` holds."""

    mode: int = WHOLE
    kept: int = 0  # REFUSE: bytes of the head kept; PEEK: the peek buffer's size
    header: _Header | None = None  # BODY, SKIP
    body: mmap.mmap | None = None  # BODY
    refusal: Refusal | None = None  # SKIP


def _varint(buffer: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """An MQTT variable byte integer at `pos`: (value, bytes used), None when cut short."""
    value, shift = 0, 0
    for used in range(1, 5):
        if pos + used > len(buffer):
            return None
        byte = buffer[pos + used - 1]
        value += (byte & 127) << shift
        if byte & 128 == 0:
            return value, used
        shift += 7
    raise MalformedPacket("bad variable byte integer")


def _publish_header(buffer: bytes | bytearray, qos: int, v5: bool) -> _Header | None:
    """Topic, packet id and properties at the start of a PUBLISH; None when `buffer` ends
    before they do."""
    if len(buffer) < 2:
        return None
    pos = 2 + int.from_bytes(buffer[:2], "big")
    topic = bytes(buffer[2:pos])
    mid = 0
    if qos:
        mid = int.from_bytes(buffer[pos:pos + 2], "big")
        pos += 2
    properties: Properties | None = None
    if v5:
        length = _varint(buffer, pos)
        if length is None:
            return None
        end = pos + length[1] + length[0]
        if end > len(buffer):
            return None
        properties = Properties(PacketTypes.PUBLISH)
        properties.unpack(bytes(buffer[pos:end]))
        pos = end
    if pos > len(buffer):
        return None
    if not topic and not v5:
        raise MalformedPacket("topic can't be empty in MQTTv3")
    return _Header(topic, mid, properties, pos)


def install(client: mqtt.Client, *, max_packet: int, screen: Screen | None = None,
            on_refused: OnRefused | None = None) -> None:
    """Replace `client`'s packet reading as described above (TCP and TLS transports)."""
    if client.transport != "tcp":
        return
    scratch = bytearray(_SCRATCH)
    reading = _Reading()
    low_water = [1]  # the socket's SO_RCVLOWAT as set
    original_publish = client._handle_publish

    def v5() -> bool:
        return client.protocol == MQTTProtocolVersion.MQTTv5

    def recv_into(view: memoryview, discard: bool = False) -> int:
        sock = client._sock
        if sock is None:
            raise ConnectionError("no socket")
        try:
            if discard and _DISCARD and not isinstance(sock, ssl.SSLSocket):
                return cast(socket.socket, sock).recv_into(view, len(view), _DISCARD)
            return cast(socket.socket, sock).recv_into(view)  # TCP or TLS: a real socket
        except ssl.SSLWantReadError as err:
            raise BlockingIOError() from err
        except ssl.SSLWantWriteError as err:
            client._call_socket_register_write()
            raise BlockingIOError() from err

    def wake_at(amount: int) -> None:
        """Have the network loop woken only once `amount` bytes wait (SO_RCVLOWAT, plain TCP):
        a big payload then arrives in a few large reads instead of hundreds of small ones,
        each of which would take the interpreter from the door's thread for a moment."""
        sock = client._sock
        if amount == low_water[0] or sock is None or isinstance(sock, ssl.SSLSocket):
            return
        try:
            cast(socket.socket, sock).setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, amount)
            low_water[0] = amount
        except OSError:
            low_water[0] = amount  # not supported here: reads stay as they come

    def start(remaining: int) -> None:
        """The fixed header is read: choose how to read the rest."""
        command = client._in_packet["command"]
        qos = (command & 0x06) >> 1
        publish = command & 0xF0 == PUBLISH and qos < 2
        reading.header, reading.body, reading.refusal = None, None, None
        if publish and remaining > max_packet:
            reading.mode, reading.kept = REFUSE, min(remaining, _HEAD)
        elif publish and remaining > BIG:
            reading.mode, reading.kept = PEEK, _PEEK
        else:
            reading.mode, reading.kept = WHOLE, remaining
        client._in_packet["packet"] = bytearray(reading.kept)

    def read_fixed_header() -> MQTTErrorCode | None:
        """The command byte and the remaining length, as paho reads them; None when done."""
        packet = client._in_packet
        try:
            if packet["command"] == 0:
                command = client._sock_recv(1)
                if not command:
                    return MQTTErrorCode.MQTT_ERR_CONN_LOST
                packet["command"] = command[0]
            while packet["have_remaining"] == 0:
                byte = client._sock_recv(1)
                if not byte:
                    return MQTTErrorCode.MQTT_ERR_CONN_LOST
                packet["remaining_count"].append(byte[0])
                if len(packet["remaining_count"]) > 4:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
                packet["remaining_length"] += (byte[0] & 127) * packet["remaining_mult"]
                packet["remaining_mult"] *= 128
                if byte[0] & 128 == 0:
                    packet["have_remaining"] = 1
                    packet["to_process"] = packet["remaining_length"]
                    start(packet["remaining_length"])
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError as err:
            client._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        return None

    def target(done: int) -> tuple[Any, int, int]:
        """Where the next bytes go: (buffer, from, to)."""
        left = client._in_packet["to_process"]
        if reading.mode == BODY:
            assert reading.body is not None and reading.header is not None
            offset = done - reading.header.end
            return reading.body, offset, offset + left
        if reading.mode == SKIP or (reading.mode == REFUSE and done >= reading.kept):
            return scratch, 0, min(_SCRATCH, left)
        return client._in_packet["packet"], done, reading.kept

    def peeked() -> None:
        """The first bytes of a big PUBLISH are in: refuse it, or read its payload into a
        memory map."""
        packet = client._in_packet
        peek = packet["packet"]
        header = _publish_header(peek, (packet["command"] & 0x06) >> 1, v5())
        remaining = packet["remaining_length"]
        if header is None:  # a header longer than the peek (huge properties): read it whole
            whole = bytearray(remaining)
            whole[:len(peek)] = peek
            packet["packet"] = whole
            reading.mode, reading.kept = WHOLE, remaining
            return
        if screen is not None:
            refusal = screen(header.topic.decode("utf-8", "replace"), remaining - header.end,
                             bytes(peek[header.end:]))
            if refusal is not None:
                reading.mode, reading.header, reading.refusal = SKIP, header, refusal
                return
        body = mmap.mmap(-1, remaining - header.end)
        body[:len(peek) - header.end] = peek[header.end:]
        reading.mode, reading.header, reading.body = BODY, header, body

    def packet_read() -> MQTTErrorCode:
        rc = read_fixed_header()
        if rc is not None:
            return rc
        packet = client._in_packet
        reads = _READS_PER_CALL
        while packet["to_process"] > 0:
            done = packet["remaining_length"] - packet["to_process"]
            buffer, begin, end = target(done)
            wake_at(min(packet["to_process"], _LOW_WATER) if reading.mode in (BODY, SKIP)
                    else 1)
            try:
                with memoryview(buffer) as view:
                    got = recv_into(view[begin:end], discard=buffer is scratch)
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_AGAIN
            except OSError as err:
                client._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            if got == 0:
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            packet["to_process"] -= got
            if reading.mode == PEEK and done + got == reading.kept:
                peeked()
            with client._msgtime_mutex:
                client._last_bytes_received = mqtt.time_func()
            reads -= 1
            if reads == 0:
                return MQTTErrorCode.MQTT_ERR_AGAIN
        packet["pos"] = 0
        try:
            if reading.mode == REFUSE:
                rc = refuse()
            elif reading.mode == SKIP:
                assert reading.header is not None
                rc = refused(reading.header.topic, packet["remaining_length"] - reading.header.end,
                             reading.refusal, reading.header.mid)
            elif reading.mode == BODY:
                assert reading.header is not None and reading.body is not None
                rc = deliver(reading.header, reading.body)
            else:
                rc = client._packet_handle()
        except MalformedPacket as exc:
            client._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        client._in_packet = {"command": 0, "have_remaining": 0, "remaining_count": [],
                             "remaining_mult": 1, "remaining_length": 0,
                             "packet": bytearray(b""), "to_process": 0, "pos": 0}
        wake_at(1)
        reading.mode, reading.header, reading.body, reading.refusal = WHOLE, None, None, None
        with client._msgtime_mutex:
            client._last_bytes_received = mqtt.time_func()
        return rc

    def refuse() -> MQTTErrorCode:
        """A PUBLISH over `max_packet`: its topic and packet id are all that was kept."""
        head = client._in_packet["packet"]
        topic_end = 2 + int.from_bytes(head[:2], "big")
        size = client._in_packet["remaining_length"]
        log.warning("refused a %d-byte message on %s before reading it (limit %d)", size,
                    bytes(head[2:topic_end]).decode("utf-8", "replace"), max_packet)
        return refused(bytes(head[2:topic_end]), size, None,
                       int.from_bytes(head[topic_end:topic_end + 2], "big"))

    def refused(topic: bytes, size: int, refusal: Refusal | None, mid: int) -> MQTTErrorCode:
        qos = (client._in_packet["command"] & 0x06) >> 1
        if on_refused is not None:
            on_refused(topic.decode("utf-8", "replace"), size, refusal, mid, qos)
        elif qos == 1:
            return client._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def deliver(header: _Header, payload: Payload) -> MQTTErrorCode:
        command = client._in_packet["command"]
        qos = (command & 0x06) >> 1
        message = MQTTMessage(mid=header.mid, topic=header.topic)
        message.dup = bool(command & 0x08)
        message.qos = qos
        message.retain = bool(command & 0x01)
        message.properties = header.properties
        # A memory map for big payloads: bytes-like, though paho's annotation says bytes.
        message.payload = cast(bytes, payload)
        message.timestamp = mqtt.time_func()
        client._easy_log(mqtt.MQTT_LOG_DEBUG, "Received PUBLISH (d%d, q%d, r%d, m%d), ... "
                         "(%d bytes)", message.dup, qos, message.retain, header.mid,
                         len(payload))
        client._handle_on_message(message)
        if qos == 1 and not client._manual_ack:
            return client._send_puback(header.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def handle_publish() -> MQTTErrorCode:
        qos = (client._in_packet["command"] & 0x06) >> 1
        if qos > 1:
            return original_publish()  # QoS 2 keeps paho's own handshake
        buffer = client._in_packet["packet"]
        header = _publish_header(buffer, qos, v5())
        if header is None:
            raise MalformedPacket("PUBLISH shorter than its header")
        del buffer[:header.end]  # the payload, in place
        return deliver(header, buffer)

    # Replacing methods of this one client on purpose (paho offers no hook for reading).
    replace: Any = client
    replace._packet_read = packet_read
    replace._handle_publish = handle_publish

"""Broker family: the MQTT broker resolves, listens, speaks TLS if asked, and accepts our login.

Each step has its own finding, so a wrong port reads differently from a wrong password. The
doctor connects with its own client id (a second connection with the gate's id would push the
running service off the broker) and a clean, non-persistent session.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import time
from collections.abc import Iterator

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn
from edge.settings.mqtt import MqttSettings
from sync.connection import (
    V5,
    V311,
    BrokerConfigError,
    BrokerOptions,
    close_session,
    open_session,
    read_password,
    tls_context,
)

PORT_FIX = ("check mqtt.port: brokers listen on 1883 for plain MQTT and 8883 for TLS; ask the "
            "platform which one, and check that no firewall blocks it")


def _tcp(options: BrokerOptions, timeout: float) -> Finding | None:
    where = f"{options.host}:{options.port}"
    try:
        socket.getaddrinfo(options.host, options.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return fail("broker.reach", f"cannot resolve the broker host {options.host!r}: {exc}",
                    "check the spelling of mqtt.host and the network's DNS "
                    "(/etc/resolv.conf); an IP address works too")
    try:
        with socket.create_connection((options.host, options.port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        return fail("broker.reach", f"nothing listens on {where} (connection refused)",
                    PORT_FIX)
    except TimeoutError:
        return fail("broker.reach", f"no answer from {where} within {timeout:g} s",
                    f"check mqtt.host and mqtt.port, the network cable, and firewalls; "
                    f"{PORT_FIX}")
    except OSError as exc:
        return fail("broker.reach", f"cannot connect to {where}: {exc}", PORT_FIX)
    return None


def _tls(options: BrokerOptions, timeout: float) -> Finding:
    where = f"{options.host}:{options.port}"
    try:
        context = tls_context(options)
    except BrokerConfigError as exc:
        return fail("broker.tls", str(exc), "check mqtt.ca_file, mqtt.cert_file and "
                    "mqtt.key_file: PEM files readable by the gridgate user")
    try:
        with socket.create_connection((options.host, options.port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=options.host) as tls:
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return fail("broker.tls", f"the broker's certificate is not trusted: "
                    f"{exc.verify_message}",
                    "set mqtt.ca_file to the CA certificate that signed the broker's "
                    "certificate (ask the platform), connect by the name in the certificate, "
                    "and check the clock (see clock.synchronised)")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        # A plain MQTT port answers a TLS hello with garbage or by hanging up.
        return fail("broker.tls", f"TLS handshake with {where} failed: {exc}",
                    "this port probably speaks plain MQTT: use the broker's TLS port (usually "
                    "8883) or set mqtt.tls = false; if the broker asks for a client "
                    "certificate, set mqtt.cert_file and mqtt.key_file")
    except OSError as exc:
        return fail("broker.tls", f"TLS connection to {where} failed: {exc}", PORT_FIX)
    return ok("broker.tls", f"TLS ({version}) with {where}: certificate trusted")


def _login(options: BrokerOptions, timeout: float) -> Finding:
    where = f"{options.host}:{options.port}"
    who = f"as {options.username!r}" if options.username else "anonymously"
    protocols = [V5, V311] if options.protocol == "auto" else [options.protocol]
    refused = ""
    for protocol in protocols:
        started = time.monotonic()
        session = open_session(options, protocol, will=None, subscriptions=[],
                               on_message=None, on_publish=None, manual_ack=False)
        try:
            if not (session.connected.wait(timeout) or session.closed.is_set()):
                return fail("broker.login", f"{where} accepted the connection but did not "
                            f"answer the MQTT login within {timeout:g} s",
                            "the port may not be an MQTT port (a web server?); "
                            f"{PORT_FIX}")
            session.closed.wait(0.05)
            if session.connected.is_set():
                took = (time.monotonic() - started) * 1000
                return ok("broker.login", f"logged in to {where} {who} with MQTT {protocol} "
                          f"in {took:.0f} ms")
        finally:
            close_session(session)
        refused = session.refused or session.close_reason or "closed the connection"
        if session.auth_refused:
            fix = ("check mqtt.username and the password in mqtt.password_file (first line, "
                   "no quotes); the platform issues both" if options.username else
                   "the broker wants a login: set mqtt.username and mqtt.password_file")
            return fail("broker.login", f"{where} refused the login {who}: {refused}", fix)
        if not session.unsupported_version:
            break
    return fail("broker.login", f"{where} refused the connection: {refused}",
                "check mqtt.protocol (try '3.1.1'), mqtt.client_id and the broker's log")


def check_broker(mqtt: MqttSettings, *, compound_id: str, gate_id: str,
                 timeout: float) -> Iterator[Finding]:
    """Reach, TLS, login: stop at the first step that fails (the next ones would only repeat)."""
    if not mqtt.enabled:
        yield ok("broker", "the platform link is off (mqtt.enabled = false): events stay in the "
                 "local journal")
        return
    options = mqtt.broker_options(compound_id=compound_id, gate_id=gate_id)
    options = dataclasses.replace(options, client_id=f"{options.client_id}-doctor"[:64],
                                  persistent=False, connect_timeout_s=timeout)
    if options.password_file is not None:
        try:
            read_password(options.password_file)
        except BrokerConfigError as exc:
            yield fail("broker.password", str(exc), "write the broker password on the first "
                       "line of that file; chmod 640, owner root, group gridgate")
            return
        mode = options.password_file.stat().st_mode
        if mode & 0o007:
            yield warn("broker.password", f"{options.password_file} is readable by every user",
                       f"sudo chmod 640 {options.password_file}")
    problem = _tcp(options, timeout)
    if problem is not None:
        yield problem
        return
    yield ok("broker.reach", f"{options.host}:{options.port} accepts connections")
    if options.tls:
        finding = _tls(options, timeout)
        yield finding
        if finding.status == "fail":
            return
    yield _login(options, timeout)


def check(context: DoctorContext) -> Iterator[Finding]:
    """The configured broker, if the platform link is on."""
    settings = context.settings
    if settings is None:
        return
    mqtt = settings.mqtt.with_base(context.base_dir)
    if mqtt.enabled:
        context.say(f"connecting to the broker {mqtt.host}:{mqtt.effective_port} (up to "
                    f"{context.broker_timeout:g} s a step)")
    yield from check_broker(mqtt, compound_id=settings.gate.compound_id,
                            gate_id=settings.gate.gate_id, timeout=context.broker_timeout)

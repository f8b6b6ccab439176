"""The platform, in a process of its own: publishes one signed message when told to.

    python -m tests.sync.platform_sender PORT TOPIC FILE

connects (MQTT 5, QoS 1 as the platform publishes), prints `ready`, waits for a line on its
standard input, publishes FILE's bytes on TOPIC, waits for the PUBACK, prints `sent` and exits.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sync.connection import BrokerOptions
from sync.platform import publish


def main() -> None:
    port, topic, path = sys.argv[1:4]
    payload = Path(path).read_bytes()
    options = BrokerOptions(host="127.0.0.1", port=int(port), client_id="flood-platform",
                            persistent=False)
    print("ready", flush=True)
    sys.stdin.readline()
    publish(options, [(topic, payload, False)], timeout=60)
    print("sent", flush=True)


if __name__ == "__main__":
    main()

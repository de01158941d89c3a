"""One sale through the Python client generated from docs/openapi.json.

Run by .ci/run after `openapi-python-client generate` wrote the client package
`poigate_client` into the directory named by POIGATE_CLIENT_DIR. Starts
`poigate serve --demo --sim-speed 0` on a free port in a temporary data directory
(POIGATE_BIN names the binary) with a known demo key, waits until /readyz answers
(polling with a deadline, no fixed sleeps), then with the generated client only:
checks /healthz, creates a sale on a demo terminal, long-polls it to its final
state, reads its events and finds it by reference. Exits non-zero on the first failure.
"""

import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.environ["POIGATE_CLIENT_DIR"])

from poigate_client import AuthenticatedClient, Client  # noqa: E402
from poigate_client.api.interactions import (  # noqa: E402
    create_interaction,
    get_interaction,
    list_events,
    list_interactions,
)
from poigate_client.api.operations import healthz  # noqa: E402
from poigate_client.models import (  # noqa: E402
    AmountInput,
    CreateInteractionRequest,
    InteractionType,
    InteractionView,
    ListOfEventView,
    ListOfInteractionView,
    Problem,
)

DEADLINE_SECONDS = 30
TERMINAL = "V400m-324688179"  # a demo terminal


def eventually(what, probe, deadline=DEADLINE_SECONDS):
    """Polls `probe` until it returns a truthy value, or fails after the deadline."""
    until = time.monotonic() + deadline
    delay = 0.005
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > until:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def start_demo(api_key, data_dir):
    binary = os.environ.get("POIGATE_BIN", "target/debug/poigate")
    env = dict(os.environ, POIGATE_DEMO_API_KEY=api_key, POIGATE_LOG="warn")
    child = subprocess.Popen(
        [binary, "serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
         "--sim-speed", "0"],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    found = {}

    def read_banner():
        for line in child.stdout:
            m = re.search(r"URL\s+(http://\S+)", line)
            if m and "url" not in found:
                found["url"] = m.group(1)
        # keep draining so the child never blocks on a full pipe

    threading.Thread(target=read_banner, daemon=True).start()

    def banner():
        if child.poll() is not None:
            raise SystemExit(f"poigate exited with {child.returncode}")
        return found.get("url")

    url = eventually("the demo banner", banner)

    def ready():
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    eventually("/readyz", ready)
    return child, url


def main():
    api_key = "pg_test_" + secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as data_dir:
        child, url = start_demo(api_key, data_dir)
        try:
            run(url, api_key)
        finally:
            child.terminate()
            child.wait(timeout=DEADLINE_SECONDS)
    print("openapi-clients: a sale through the generated Python client: ok")


def run(url, api_key):
    health = healthz.sync(client=Client(base_url=url))
    assert health is not None and health.status == "ok", health

    client = AuthenticatedClient(base_url=url, token=api_key, timeout=60)
    reference = "py-" + secrets.token_hex(6)
    created = create_interaction.sync_detailed(
        client=client,
        body=CreateInteractionRequest(
            terminal=TERMINAL,
            type_=InteractionType.SALE,
            amount=AmountInput(value=1250, currency="EUR"),
            reference=reference,
        ),
        idempotency_key=secrets.token_hex(8),
    )
    assert created.status_code == 202, (created.status_code, created.content)
    sale = created.parsed
    assert isinstance(sale, InteractionView), sale

    final = get_interaction.sync(sale.id, client=client, wait=30)
    assert isinstance(final, InteractionView), final
    assert final.final, final
    assert final.status.value == "approved", final.status

    events = list_events.sync(sale.id, client=client, limit=100)
    assert isinstance(events, ListOfEventView), events
    kinds = [e.type_ for e in events.data]
    assert kinds[0] == "created" and kinds[-1] == "completed", kinds

    found = list_interactions.sync(client=client, reference=reference)
    assert isinstance(found, ListOfInteractionView), found
    assert [i.id for i in found.data] == [sale.id], found

    # What the schema refuses, the server refuses too, with a problem the client parses.
    refused = list_events.sync(sale.id, client=client, limit=0)
    assert isinstance(refused, Problem) and refused.status == 400, refused


if __name__ == "__main__":
    main()

"""A Toxiproxy-compatible chaos TCP proxy (HTTP API and toxics as documented by Shopify/toxiproxy).

Used when no real Toxiproxy is available (no ``TOXIPROXY_URL``, no ``toxiproxy-server`` on
PATH). Start it with ``python -m doubles.toxiproxy --host 127.0.0.1 --port PORT [--seed N]``.
"""

# the Toxiproxy release whose API this server speaks, as /version shows it (clients parse it);
# the server names itself in its Server header (wire.py)
VERSION = "2.12.0"

"""Serves a WSGI application with gohttp's public API and, once stopped,
writes the library's live-object counters as JSON (make bench --rss).

    python gohttp_rss_serve.py MODULE:ATTRIBUTE PORT STATS.json

gohttp.run returns after SIGINT/SIGTERM has drained and freed the server;
gohttp.stats() is read after that, so every counter of a request or a
server still alive shows up as non-zero in the file.
"""

import importlib
import json
import sys

import gohttp
import gohttp.wsgi


def main():
    spec, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    module, _, attr = spec.partition(":")
    app = getattr(importlib.import_module(module), attr or "app")
    srv = gohttp.wsgi.make_server(app, server_name="127.0.0.1")
    gohttp.run("127.0.0.1", port, server=srv)
    with open(out, "w") as f:
        json.dump(gohttp.stats(), f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

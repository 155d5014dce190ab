"""Serves a WSGI application with bjoern on 127.0.0.1 (bjoern has no CLI).

    python bjoern_serve.py MODULE:ATTRIBUTE PORT

bjoern binds with SO_REUSEADDR only, so a port already listened on fails
with EADDRINUSE and this exits non-zero.  SIGINT stops the event loop.
"""

import importlib
import sys

import bjoern


def main():
    module, _, attr = sys.argv[1].partition(":")
    app = getattr(importlib.import_module(module), attr or "app")
    try:
        bjoern.run(app, "127.0.0.1", int(sys.argv[2]))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

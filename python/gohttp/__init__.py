"""gohttp: Go's net/http server answering requests with Python handlers.

The seed's API, unchanged::

    from gohttp import route, run

    @route('/')
    def index(w, req):
        w.write("Hello, world.\\n")

    if __name__ == '__main__':
        run(host='127.0.0.1', port=5000)

Several servers in one process: ``Server`` (route, start, shutdown, wait,
close, context manager).  WSGI applications: ``gohttp.wsgi``.  The CLI:
``python -m gohttp [module:app] [--bind HOST:PORT]``.
"""

import os as _os

# The version of the package and of the library (python/pyproject.toml and
# mk/core.mk read it from this line).
__version__ = "0.1.0"

# Before the Go runtime starts (it reads GOMAXPROCS when the library is
# loaded, on the first import of the extension): one scheduler slot more
# than CPUs. A pull worker is a thread Go did not create; each call it
# makes into the library needs a free slot, and with one per CPU the
# network goroutines often hold them all, so the worker waits for a
# thread hand-over on a call that takes a microsecond (python/README.md,
# "Threads and the GIL", has the measurement). A GOMAXPROCS set by the
# user is kept.
if "GOMAXPROCS" not in _os.environ:
    _os.environ["GOMAXPROCS"] = str(len(_os.sched_getaffinity(0)) + 1)

from ._errors import (BadRequestError, ClientDisconnectedError,
                      ContentLengthExceededError, GohttpError,
                      GohttpTimeoutError, HeadersSentError,
                      RequestTooLargeError, ServerBusyError,
                      StaleHandleError)
from ._exchange import Headers, Request, ResponseWriter
from ._server import (DEFAULT_DISPATCH, PULL, PUSH, Server, default_server,
                      route, run, shutdown, stats)

__all__ = [
    "__version__",
    "route", "run", "shutdown", "Server", "default_server", "stats",
    "Request", "ResponseWriter", "Headers",
    "GohttpError", "StaleHandleError", "HeadersSentError",
    "ClientDisconnectedError", "RequestTooLargeError", "GohttpTimeoutError",
    "ServerBusyError", "BadRequestError", "ContentLengthExceededError",
    "PUSH", "PULL", "DEFAULT_DISPATCH",
]

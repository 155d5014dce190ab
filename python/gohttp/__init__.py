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

from ._errors import (BadRequestError, ClientDisconnectedError,
                      ContentLengthExceededError, GohttpError,
                      GohttpTimeoutError, HeadersSentError,
                      RequestTooLargeError, ServerBusyError,
                      StaleHandleError)
from ._exchange import Headers, Request, ResponseWriter
from ._server import (DEFAULT_DISPATCH, PULL, PUSH, Server, default_server,
                      route, run, shutdown, stats)

__all__ = [
    "route", "run", "shutdown", "Server", "default_server", "stats",
    "Request", "ResponseWriter", "Headers",
    "GohttpError", "StaleHandleError", "HeadersSentError",
    "ClientDisconnectedError", "RequestTooLargeError", "GohttpTimeoutError",
    "ServerBusyError", "BadRequestError", "ContentLengthExceededError",
    "PUSH", "PULL", "DEFAULT_DISPATCH",
]

"""Exceptions and the mapping from C error codes (GOHTTP_E*) to them.

Every C call that can fail goes through check(): a negative return becomes
the exception that a Python programmer expects for that failure (ValueError
for bad arguments, OSError with the OS reason for a bind failure, ...), and
the message carries gohttp_strerror plus the thread's gohttp_last_error
detail.  The detail is read right after the failed call on the same thread,
as the header requires.
"""

import errno as _errno

from ._gohttp_cffi import ffi, lib


class GohttpError(OSError):
    """Base of the gohttp-specific errors; ``code`` is the GOHTTP_E* value."""

    code = 0


class StaleHandleError(GohttpError):
    """A Request or ResponseWriter was used after its handler returned
    (GOHTTP_ESTALE): the object it named is gone and nothing was touched."""


class HeadersSentError(GohttpError, RuntimeError):
    """The call is not valid any more (GOHTTP_ESTATE): e.g. a header or the
    status after the response headers were sent."""


class ClientDisconnectedError(GohttpError, ConnectionError):
    """The client went away while writing or reading (GOHTTP_EIO)."""


class RequestTooLargeError(GohttpError):
    """The request body exceeded max_body_bytes (GOHTTP_ETOOLARGE); the
    response becomes 413 if nothing was written yet."""


class BadRequestError(GohttpError):
    """The request body is malformed (GOHTTP_EBADREQ): a bad chunk size or
    terminator, or a forbidden trailer; the response becomes 400 if
    nothing was written yet."""


class ContentLengthExceededError(GohttpError):
    """A write went past the Content-Length the handler declared
    (GOHTTP_ELENGTH); the extra bytes were not sent."""


class GohttpTimeoutError(GohttpError, TimeoutError):
    """A wait ran out (GOHTTP_ETIMEDOUT)."""


class ServerBusyError(GohttpError, RuntimeError):
    """The server is still running (GOHTTP_EBUSY) or the call would wait on
    the calling handler itself (GOHTTP_EDEADLK)."""


# OS reasons as Go spells them in a bind failure -> errno, so callers can
# test e.errno == errno.EADDRINUSE like with the socket module.
_BIND_REASONS = (
    ("address already in use", _errno.EADDRINUSE),
    ("permission denied", _errno.EACCES),
    ("cannot assign requested address", _errno.EADDRNOTAVAIL),
    ("no such host", _errno.EINVAL),
    ("missing port", _errno.EINVAL),
    ("invalid port", _errno.EINVAL),
)

_VALUE_ERRORS = (lib.GOHTTP_EINVAL, lib.GOHTTP_EEXIST, lib.GOHTTP_EPATTERN)


def strerror(code):
    """The library's name for a GOHTTP_E* code."""
    return ffi.string(lib.gohttp_strerror(code)).decode("utf-8", "replace")


def last_error():
    """The calling thread's last-error detail ("" if none)."""
    return ffi.string(lib.gohttp_last_error()).decode("utf-8", "replace")


def error_for(code, what):
    """Build (not raise) the exception for a negative code returned by the
    call described by ``what``.  Must run on the thread that made the call,
    before any other gohttp call, so last_error() is that call's detail."""
    detail = last_error()
    name = strerror(code)
    msg = "%s: %s" % (what, name)
    if detail and detail != name:
        msg = "%s (%s)" % (msg, detail)
    if code in _VALUE_ERRORS:
        return ValueError(msg)
    if code == lib.GOHTTP_EBIND:
        low = detail.lower()
        for reason, num in _BIND_REASONS:
            if reason in low:
                return OSError(num, msg)
        return OSError(_errno.EADDRNOTAVAIL, msg)
    cls, num = _CODE_CLASSES.get(code, (GohttpError, _errno.EIO))
    exc = cls(num, msg)
    exc.code = code
    return exc


# A body read that failed through the client's fault, and the status the
# library answers for it when the handler sends nothing (it takes that
# status itself at the end of the exchange; see gohttp_read_body).
_BODY_FAILURE_STATUS = {RequestTooLargeError: 413,
                        GohttpTimeoutError: 408,
                        BadRequestError: 400}
BODY_FAILURES = tuple(_BODY_FAILURE_STATUS)


def body_failure_status(exc):
    """413, 408 or 400 for a body read's RequestTooLargeError,
    GohttpTimeoutError (body_read_timeout) or BadRequestError; else 0."""
    return _BODY_FAILURE_STATUS.get(type(exc), 0)

_CODE_CLASSES = {
    lib.GOHTTP_ESTALE: (StaleHandleError, _errno.ESTALE),
    lib.GOHTTP_ESTATE: (HeadersSentError, _errno.EINVAL),
    lib.GOHTTP_EIO: (ClientDisconnectedError, _errno.EPIPE),
    lib.GOHTTP_ETOOLARGE: (RequestTooLargeError, _errno.EFBIG),
    lib.GOHTTP_ETIMEDOUT: (GohttpTimeoutError, _errno.ETIMEDOUT),
    lib.GOHTTP_EBUSY: (ServerBusyError, _errno.EBUSY),
    lib.GOHTTP_EDEADLK: (ServerBusyError, _errno.EDEADLK),
    lib.GOHTTP_ENOMEM: (GohttpError, _errno.ENOMEM),
    lib.GOHTTP_EPANIC: (GohttpError, _errno.EIO),
    lib.GOHTTP_ECLOSED: (GohttpError, _errno.ESHUTDOWN),
    lib.GOHTTP_EBADREQ: (BadRequestError, _errno.EPROTO),
    lib.GOHTTP_ELENGTH: (ContentLengthExceededError, _errno.EMSGSIZE),
}


def check(rc, what):
    """Return rc if it is >= 0, else raise the exception for it."""
    if rc < 0:
        raise error_for(rc, what)
    return rc

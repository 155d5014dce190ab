"""The CPython-API functions of the extension (python/gohttp_native.c):
installed into the cffi module once, at import, and re-exported here.

serve(server, dispatch, pool, timeout_ms)  the pull worker loop
pool()                                a worker pool for serve
environ(w, base)                      PEP 3333 environ of the current request
request(w)                            every field of the current request
respond(w, status, headers, body)     one-call response (returns the code)
header_problem(name, value)           the library's header rules
"""

from . import _gohttp_cffi as _ext
from ._errors import StaleHandleError
from ._gohttp_cffi import lib

if lib.gohttp_py_install() != 0:  # pragma: no cover - a broken build
    raise ImportError("gohttp: cannot install the extension's C functions")
_ext.setup(StaleHandleError)

serve = _ext.serve
pool = _ext.pool
environ = _ext.environ
request = _ext.request
respond = _ext.respond
header_problem = _ext.header_problem

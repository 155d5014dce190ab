"""The refusals of bad arguments and the small value helpers of the
package, each with the exception and message a caller gets: Server options,
route/static/start misuse, shutdown timeouts, Headers as a mapping, the
WSGI start_response checks, wsgi.input's buffered reads, and the CLI's
--bind and application-spec parsing, and the cut of a long error detail."""

import os

import pytest

import gohttp
from gohttp import __main__ as cli
from gohttp import wsgi
from gohttp._exchange import Headers


def _ok(w, req):
    w.write(b"ok")


@pytest.mark.parametrize("options, exc, message", [
    (dict(dispatch="threads"), ValueError, "dispatch must be 'push' or 'pull'"),
    (dict(threads=True), TypeError, "threads must be a number or None"),
    (dict(threads="4"), TypeError, "threads must be a number, got '4'"),
    (dict(threads=0), ValueError, "threads must be positive"),
    (dict(max_body_bytes=-1), ValueError, "max_body_bytes must be positive"),
    (dict(write_timeout=-0.5), ValueError, "write_timeout must be >= 0"),
    (dict(reuse_port="yes"), TypeError, "reuse_port must be True, False or None"),
    (dict(h2c=1), TypeError, "h2c must be True or False"),
    (dict(metrics_bind=9100), TypeError, "metrics_bind must be a str"),
    (dict(metrics_bind="127.0.0.1:0\0"), ValueError, "metrics_bind contains NUL"),
    (dict(forwarded_allow_ips="127.0.0.1\0"), ValueError,
     "forwarded_allow_ips contains NUL"),
    (dict(forwarded_allow_ips=["127.0.0.1", 10]), TypeError,
     "forwarded_allow_ips must be a str or a list of str"),
    (dict(access_log=3), TypeError, "access_log must be a path, got 3"),
    (dict(access_log=""), ValueError, "access_log must be a non-empty path"),
])
def test_server_refuses_bad_options(options, exc, message):
    with pytest.raises(exc) as info:
        gohttp.Server(**options)
    assert message in str(info.value)


def test_pull_server_gets_a_handler_slot_per_thread():
    with gohttp.Server(dispatch=gohttp.PULL, threads=3, max_handlers=1) as srv:
        assert srv.threads == 3
        assert srv.max_handlers == 3


def test_route_and_static_refuse_bad_arguments(tmp_path):
    with gohttp.Server() as srv:
        with pytest.raises(TypeError, match="handler must be callable"):
            srv.route("/", "not a function")
        with pytest.raises(TypeError, match="pattern must be str"):
            srv.route(b"/", _ok)
        with pytest.raises(ValueError, match="route pattern contains NUL"):
            srv.route("/a\0b", _ok)
        with pytest.raises(TypeError, match="prefix must be str"):
            srv.static(b"/files", str(tmp_path))
        with pytest.raises(ValueError, match="prefix contains NUL"):
            srv.static("/files\0", str(tmp_path))
        with pytest.raises(TypeError, match="directory must be a path"):
            srv.static("/files", 42)


def test_server_lifecycle_misuse_and_repr():
    srv = gohttp.Server(dispatch=gohttp.PUSH)
    try:
        assert repr(srv) == "<gohttp.Server push port=None new>"
        srv.route("/", _ok)
        port = srv.start("127.0.0.1", 0)
        assert repr(srv) == "<gohttp.Server push port=%d running>" % port
        with pytest.raises(ValueError, match="server already started"):
            srv.start("127.0.0.1", 0)
        with pytest.raises(ValueError, match="shutdown: timeout required"):
            srv.shutdown(None)
        with pytest.raises(ValueError, match="shutdown: negative timeout"):
            srv.shutdown(-1)
        with pytest.raises(TypeError, match="shutdown: timeout must be a number"):
            srv.shutdown("1")
    finally:
        srv.close()
    assert repr(srv) == "<gohttp.Server push port=%d freed>" % port
    with pytest.raises(ValueError, match="route on a closed server"):
        srv.route("/late", _ok)
    with pytest.raises(ValueError, match="static on a closed server"):
        srv.static("/files", os.getcwd())
    with pytest.raises(ValueError, match="server already started"):
        srv.start("127.0.0.1", 0)


def test_headers_mapping():
    h = Headers([("Accept", "a"), ("X-Tag", "1"), ("accept", "b"), ("x-tag", "2")])
    assert list(h) == ["Accept", "X-Tag"]      # distinct names, first spelling
    assert len(h) == 2
    assert h["ACCEPT"] == "a"
    assert h.get_all("x-tag") == ["1", "2"]
    assert h.items_all() == [("Accept", "a"), ("X-Tag", "1"), ("accept", "b"),
                             ("x-tag", "2")]
    assert repr(Headers([("A", "1")])) == "Headers([('A', '1')])"
    with pytest.raises(KeyError):
        h["Missing"]
    with pytest.raises(KeyError):
        h[1]


@pytest.mark.parametrize("status, headers, exc, message", [
    ("200", [], ValueError, "invalid WSGI status '200'"),
    ("20x OK", [], ValueError, "invalid WSGI status"),
    (200, [], ValueError, "invalid WSGI status 200"),
    ("200 OK", (("A", "1"),), TypeError, "response headers must be a list"),
    ("200 OK", [("A", 1)], TypeError, "response header ('A', 1) is not a (str, str)"),
    ("200 OK", [["A", "1"]], TypeError, "is not a (str, str) tuple"),
])
def test_start_response_refuses_bad_status_and_headers(status, headers, exc, message):
    resp = wsgi._Response(None, None)
    with pytest.raises(exc) as info:
        resp.start_response(status, headers)
    assert message in str(info.value)
    assert resp.status is None      # nothing was recorded


class _ChunkedBody:
    """Stands in for the exchange's Body: hands out its data a few bytes
    per read, as a slow client's body arrives."""

    def __init__(self, data, step=3):
        self.data = data
        self.step = step
        self.reads = 0

    def read(self, n):
        self.reads += 1
        out, self.data = self.data[:min(n, self.step)], self.data[min(n, self.step):]
        return out


def test_wsgi_input_reads_lines_and_rest():
    inp = wsgi.WSGIInput(_ChunkedBody(b"one\ntwo\nthree\nfour"))
    assert iter(inp) is inp
    assert next(inp) == b"one\n"
    assert inp.readline(2) == b"tw"
    assert inp.readline(None) == b"o\n"
    assert inp.read() == b"three\nfour"
    assert inp.read() == b""
    with pytest.raises(StopIteration):
        next(inp)
    assert wsgi.WSGIInput(_ChunkedBody(b"no newline")).readline() == b"no newline"


def test_wsgi_input_readlines_and_size_limit():
    inp = wsgi.WSGIInput(_ChunkedBody(b"abcdefgh\nij\nkl\n"))
    assert inp.readline(5) == b"abcde"          # limit reached before a newline
    assert inp.readlines() == [b"fgh\n", b"ij\n", b"kl\n"]
    assert list(wsgi.WSGIInput(_ChunkedBody(b"a\nb\n"))) == [b"a\n", b"b\n"]
    assert wsgi.WSGIInput(_ChunkedBody(b"a\nbb\ncc\n")).readlines(3) == [b"a\n", b"bb\n"]


@pytest.mark.parametrize("text, expected", [
    ("[::1]:8080", ("::1", 8080)),
    ("[::1]", ("::1", 5000)),
    ("example.test", ("example.test", 5000)),
    (":9000", ("127.0.0.1", 9000)),
])
def test_parse_bind(text, expected):
    assert cli.parse_bind(text, 5000) == expected


@pytest.mark.parametrize("text", ["127.0.0.1:http", "[::1]:x"])
def test_parse_bind_refuses_a_bad_port(text):
    with pytest.raises(SystemExit, match="gohttp: bad --bind"):
        cli.parse_bind(text, 5000)


def test_load_app_specs():
    with pytest.raises(SystemExit, match="gohttp: bad application spec ':app'"):
        cli.load_app(":app")
    with pytest.raises(SystemExit, match="gohttp: os:sep is not callable"):
        cli.load_app("os:sep")
    with pytest.raises(SystemExit, match="no application 'nothing_here' in module os"):
        cli.load_app("os:nothing_here")
    # NAME() names a factory: its result is the application.
    assert cli.load_app("%s:make_app()" % __name__) is _ok
    with pytest.raises(SystemExit, match=r"os:getcwd\(\) is not callable"):
        cli.load_app("os:getcwd()")


def make_app():
    """An application factory for test_load_app_specs."""
    return _ok


def test_last_error_is_cut_to_its_buffer():
    # The thread's last-error buffer of the library holds 511 bytes and a
    # NUL; a longer message (a long invalid pattern quoted by Go) is cut.
    from gohttp._errors import last_error
    with gohttp.Server() as srv:
        with pytest.raises(ValueError) as info:
            srv.route("/{" + "x" * 2000, _ok)
        detail = last_error()
    assert len(detail.encode()) == 511
    assert detail.endswith("x" * 100)
    assert detail in str(info.value)

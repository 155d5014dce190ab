"""A 1xx informational status (103 Early Hints) does not count as "the
response started": a handler that raises after it still gets a 500, and
the final status follows the 1xx on the wire."""

import logging

import gohttp
from conftest import raw_exchange, request


def test_early_hints_then_exception_gives_500(make_server, caplog):
    seen = {}

    def hints_then_bug(w, req):
        w.set_header("Link", "</style.css>; rel=preload; as=style")
        w.set_status(103)
        seen["sent_after_103"] = w.headers_sent
        raise RuntimeError("bug after early hints")

    _, port = make_server({"/": hints_then_bug})
    with caplog.at_level(logging.ERROR, logger="gohttp"):
        data = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
    # The 103 went out first, then a complete 500 (not a dropped connection).
    assert data.startswith(b"HTTP/1.1 103 "), data[:200]
    assert b"</style.css>" in data.split(b"\r\n\r\n", 1)[0]
    final = data.split(b"\r\n\r\n", 1)[1]
    assert final.startswith(b"HTTP/1.1 500 "), data
    assert final.endswith(b"\r\n\r\nInternal Server Error\n"), data
    # The handler's own headers are not part of the 500.
    assert b"</style.css>" not in final
    assert seen["sent_after_103"] is False
    assert "bug after early hints" in caplog.text


def test_early_hints_then_final_status(make_server):
    states = []

    def hints_then_created(w, req):
        w.set_status(103)
        states.append(w.headers_sent)
        w.set_status(201)
        states.append(w.headers_sent)
        w.write("made")

    _, port = make_server({"/": hints_then_created})
    data = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 103 ")
    assert b"HTTP/1.1 201 " in data and data.endswith(b"\r\n\r\nmade")
    assert states == [False, True]

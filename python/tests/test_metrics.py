"""Prometheus metrics served by Go on their own listener (metrics_bind),
read by a real client and parsed by prometheus_client's text parser."""

import http.client
import socket
import threading

import pytest

import gohttp

from conftest import finish_child, read_port, request, served_by, spawn

parser = pytest.importorskip("prometheus_client.parser")


_held = []


def free_port():
    """A loopback port for metrics_bind, which cannot report the port it
    bound: held until the test ends by a socket bound with SO_REUSEADDR
    that never listens, so no other socket can take it, while Go's
    listener (SO_REUSEADDR too) can bind and listen on it."""
    s = socket.socket()
    _held.append(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(autouse=True)
def release_held_ports():
    yield
    while _held:
        _held.pop().close()


def scrape(port):
    """{(sample name, frozenset(labels)): value} of GET /metrics, and the
    families' types, through the Prometheus parser."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    finally:
        conn.close()
    samples, types = {}, {}
    for fam in parser.text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, types


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def raw(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        return s.recv(4096).split(b" ", 2)[1]


def test_metrics_count_statuses_refusals_latency_and_slots():
    mport = free_port()
    inside = {}

    def scrape_inside(w, req):
        inside["samples"] = scrape(mport)[0]
        w.write(b"ok")

    srv = gohttp.Server(dispatch="push", max_body_bytes=10,
                        metrics_bind="127.0.0.1:%d" % mport)
    srv.route("/", lambda w, req: w.write(req.body))
    srv.route("/inside", scrape_inside)
    try:
        port = srv.start("127.0.0.1", 0)
        for _ in range(3):
            assert request(port, "GET", "/")[0] == 200
        assert request(port, "GET", "/inside")[0] == 200
        assert request(port, "POST", "/", body=b"x" * 11)[0] == 413
        assert raw(port, b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n") == b"400"
        assert raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 9000 +
                   b"\r\n\r\n") == b"431"
        samples, types = scrape(mport)
    finally:
        assert srv.close(5.0)
    assert types["gohttp_requests"] == "counter"
    assert types["gohttp_request_duration_seconds"] == "histogram"
    # The handler that scraped saw itself in flight, in a handler slot.
    assert value(inside["samples"], "gohttp_requests_in_flight") == 1
    assert value(inside["samples"], "gohttp_handler_slots_busy") == 1
    assert value(inside["samples"], "gohttp_live_handles") >= 1
    assert value(samples, "gohttp_requests_total", **{"class": "2xx"}) == 4
    assert value(samples, "gohttp_requests_total", **{"class": "4xx"}) == 3
    assert value(samples, "gohttp_requests_total", **{"class": "5xx"}) == 0
    for code, want in (("400", 1), ("408", 0), ("413", 1), ("431", 1)):
        assert value(samples, "gohttp_client_errors_total", code=code) == want
    assert value(samples, "gohttp_requests_in_flight") == 0
    assert value(samples, "gohttp_handler_slots_busy") == 0
    assert value(samples, "gohttp_handler_slots") == srv.max_handlers
    assert value(samples, "gohttp_request_duration_seconds_count") == 7
    assert value(samples, "gohttp_request_duration_seconds_sum") > 0
    buckets = sorted((float(dict(k)["le"]), v) for (n, k), v in samples.items()
                     if n == "gohttp_request_duration_seconds_bucket")
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and buckets[-1] == (float("inf"), 7)
    assert value(samples, "gohttp_live_servers") >= 1
    assert value(samples, "gohttp_live_go_handles") >= 1
    assert types["gohttp_host_wait_seconds"] == "counter"
    assert value(samples, "gohttp_host_wait_seconds_total") >= 0
    for name in ("gohttp_arena_bytes", "gohttp_live_arenas",
                 "gohttp_stale_rejections_total",
                 "gohttp_panics_recovered_total",
                 "gohttp_handlers_completed_total"):
        assert value(samples, name) >= 0
    # Closed with the server.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", mport), timeout=2).close()


def test_metrics_queue_waits_and_503():
    mport = free_port()
    entered, release = threading.Event(), threading.Event()

    def block(w, req):
        entered.set()
        release.wait(10)
        w.write(b"done")

    srv = gohttp.Server(dispatch="push", max_handlers=1, queue_timeout=0.2,
                        metrics_bind="127.0.0.1:%d" % mport)
    srv.route("/", block)
    try:
        port = srv.start("127.0.0.1", 0)
        first = []
        t = threading.Thread(target=lambda: first.append(
            request(port, "GET", "/")[0]))
        t.start()
        assert entered.wait(10)
        assert request(port, "GET", "/")[0] == 503
        samples, _ = scrape(mport)
        release.set()
        t.join(10)
        assert first == [200]
    finally:
        release.set()
        assert srv.close(5.0)
    assert value(samples, "gohttp_queue_waits_total") == 1
    assert value(samples, "gohttp_queue_timeouts_total") == 1
    assert value(samples, "gohttp_handler_slots_busy") == 1
    assert value(samples, "gohttp_requests_total", **{"class": "5xx"}) == 1


def test_metrics_bind_in_use_fails_start():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        srv = gohttp.Server(metrics_bind="127.0.0.1:%d" % taken)
        try:
            srv.route("/", lambda w, req: None)
            with pytest.raises(OSError, match="metrics_bind"):
                srv.start("127.0.0.1", 0)
        finally:
            srv.close(5.0)


def test_cli_metrics_bind_and_refused_with_workers():
    mport = free_port()
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  "--metrics-bind", "127.0.0.1:%d" % mport])
    with served_by(proc):
        port = read_port(proc)
        assert request(port, "GET", "/")[0] == 200
        samples, _ = scrape(mport)
        assert value(samples, "gohttp_requests_total", **{"class": "2xx"}) == 1
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  "--workers", "2", "--metrics-bind", "127.0.0.1:%d" % mport])
    out, err = proc.communicate(timeout=15)
    finish_child(proc, out, err, status=2, uses_gohttp=False)
    assert "--metrics-bind serves one process" in err

"""python -m gohttp: the hello demo, or a WSGI application.

    python -m gohttp                         hello demo on 127.0.0.1:5000
    python -m gohttp pkg.module:app [--bind HOST:PORT|fd://N] [--threads N]
                     [--max-handlers N] [--dispatch pull|push]
                     [--drain-timeout SECONDS] [--chdir DIR]
                     [--workers N] [--max-requests N]
                     [--max-requests-jitter N]
                     [--certfile FILE --keyfile FILE] [--h2c]
                     [--static PREFIX=DIR ...] [--access-log FILE]
                     [--forwarded-allow-ips IPS] [--metrics-bind HOST:PORT]
                     [--limit-request-line BYTES]
                     [--limit-request-fields N]
                     [--limit-request-field-size BYTES]
                     [--max-connections N] [--body-read-timeout SECONDS]
                     [--send-timeout SECONDS]

APP follows gunicorn's convention: "module:attribute", where the attribute
may be a call of a factory without arguments ("module:create_app()"), and
"module" alone means "module:application" (falling back to "module:app").
The current directory is put on sys.path first, as gunicorn does.

Once listening it prints "gohttp: listening on http://HOST:PORT/" (https://
with --certfile) to stdout (so a script using --bind HOST:0 learns the
port).  SIGINT (Ctrl-C),
SIGTERM and SIGHUP all drain in-flight requests (bounded by
--drain-timeout) and exit with status 0; a bind failure exits with status 1
and the OS reason.  --bind fd://N serves the TCP socket this process
inherited already listening as descriptor N (systemd socket activation:
fd://3) instead of binding, alone or shared with the --workers.

--workers N (N > 1) runs N worker processes, each its own interpreter and
Go runtime, serving one socket on HOST:PORT, under a supervisor that
restarts a worker that dies (backoff 0.1 s doubling up to 4 s) and prints
the "listening" line once every worker listens.  SIGINT/SIGTERM to the
supervisor: every worker drains, then it exits 0.  SIGHUP to the
supervisor: graceful reload (new workers start and listen, then the old
ones drain; code changed on disk is picked up).  --max-requests N recycles
a worker after N requests plus a random 0..--max-requests-jitter (its
replacement listens before it stops accepting); it implies the supervisor
even with one worker.
"""

import argparse
import importlib
import logging
import os
import sys

import gohttp
from gohttp import _workers, wsgi

HELLO = b"Hello, world.\n"


def hello(w, req):
    """The seed's demo handler."""
    w.write(HELLO)


def load_app(spec):
    """Import the WSGI application named by a gunicorn-style spec."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise SystemExit("gohttp: bad application spec %r" % spec)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise           # the application's own import failed: its trace
        raise SystemExit("gohttp: no module named %r (sys.path starts "
                         "with %s)" % (module_name, sys.path[0])) from None
    names = [attr] if attr else ["application", "app"]
    for name in names:
        call = name.endswith("()")
        obj = module
        try:
            for part in (name[:-2] if call else name).split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if call:
            obj = obj()
        if not callable(obj):
            raise SystemExit("gohttp: %s is not callable" % spec)
        return obj
    raise SystemExit("gohttp: no application %r in module %s"
                     % (attr or "application", module_name))


def parse_bind(text, default_port):
    """'HOST:PORT', ':PORT', 'HOST' or '[v6]:PORT' -> (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    try:
        return host or "127.0.0.1", int(port) if port else default_port
    except ValueError:
        raise SystemExit("gohttp: bad --bind %r" % text) from None


def bind_target(text, default_port):
    """--bind -> (host, port, listen_fd).  "fd://N" names a TCP socket this
    process inherited already listening (systemd socket activation): it is
    served as it is (listen_fd N), and host and port are its address, for
    the log; anything else is parse_bind's (listen_fd None)."""
    if not text.startswith("fd://"):
        host, port = parse_bind(text, default_port)
        return host, port, None
    try:
        fd = int(text[len("fd://"):])
        if fd < 0:
            raise ValueError(fd)
    except ValueError:
        raise SystemExit("gohttp: bad --bind %r" % text) from None
    if _workers.WORKER is not None:
        # A worker re-runs the command line but did not inherit N: it
        # serves the supervisor's socket (a duplicate of N), named here.
        fd = _workers.WORKER.listen_fd
    try:
        sock = _workers.adopt_socket(fd)
    except OSError as exc:
        raise SystemExit("gohttp: cannot serve --bind %s: %s"
                         % (text, exc.strerror or exc)) from None
    with sock:
        host, port = sock.getsockname()[:2]
    return host, port, (None if _workers.WORKER is not None else fd)


def url_host(host):
    """host as it goes in a URL: an IPv6 address in brackets."""
    return "[%s]" % host if ":" in host else host


def main(argv=None):
    paragraphs = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(
        prog="python -m gohttp", description=paragraphs[0],
        # Signals, exit statuses and --workers, as in the module doc.
        epilog="\n\n".join(paragraphs[3:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("app", nargs="?",
                        help="WSGI application, module:attribute")
    parser.add_argument("-b", "--bind", default=None,
                        help="HOST:PORT (default 127.0.0.1:5000 for the "
                        "demo, 127.0.0.1:8000 for an application), or "
                        "fd://N: serve the listening TCP socket inherited "
                        "as descriptor N (systemd socket activation)")
    parser.add_argument("--threads", type=int, default=None,
                        help="pull-mode worker threads (default: "
                        "--max-handlers)")
    parser.add_argument("--max-handlers", type=int, default=None,
                        help="handlers running at once")
    parser.add_argument("--dispatch", choices=[gohttp.PULL, gohttp.PUSH],
                        default=None)
    parser.add_argument("--drain-timeout", type=float,
                        default=gohttp._server.DEFAULT_DRAIN_TIMEOUT,
                        help="seconds in-flight requests get at shutdown")
    parser.add_argument("--chdir", default=None)
    parser.add_argument("-w", "--workers", type=int, default=1,
                        help="worker processes sharing one listening "
                        "socket under a supervisor; default 1: "
                        "one process, no supervisor")
    parser.add_argument("--max-requests", type=int, default=None,
                        help="recycle a worker after this many requests "
                        "(starts the supervisor)")
    parser.add_argument("--max-requests-jitter", type=int, default=0,
                        help="add a random 0..N to each worker's "
                        "--max-requests, so workers do not recycle at once")
    parser.add_argument("--certfile", default=None,
                        help="HTTPS: PEM certificate (chain) file; with "
                        "--keyfile (default: none, plain HTTP). HTTP/2 is "
                        "offered by ALPN")
    parser.add_argument("--keyfile", default=None,
                        help="HTTPS: PEM private key of --certfile "
                        "(default: none)")
    parser.add_argument("--h2c", action="store_true", default=False,
                        help="also serve HTTP/2 without TLS to clients "
                        "with prior knowledge; HTTP/1.1 keeps working "
                        "(default: off)")
    parser.add_argument("--static", action="append", default=[],
                        metavar="PREFIX=DIR",
                        help="serve the files of DIR under the URL path "
                        "PREFIX from Go, never from the application "
                        "(repeatable; no directory listing; default: "
                        "none)")
    parser.add_argument("--access-log", default=None, metavar="FILE",
                        help="access log written by Go, Common Log Format "
                        "plus the request time in microseconds; '-' for "
                        "stdout (default: none)")
    parser.add_argument("--forwarded-allow-ips", default=None,
                        metavar="IPS",
                        help="comma-separated IP addresses / CIDR blocks "
                        "of proxies trusted to set X-Forwarded-For, "
                        "-Proto and -Host (REMOTE_ADDR, wsgi.url_scheme, "
                        "HTTP_HOST), '*' for all (default: none)")
    parser.add_argument("--metrics-bind", default=None,
                        metavar="HOST:PORT",
                        help="serve Prometheus metrics (GET /metrics) from "
                        "Go on this second address; one process only, not "
                        "with --workers (default: none)")
    parser.add_argument("--limit-request-line", type=int, default=None,
                        metavar="BYTES",
                        help="longest request line; longer: 400 "
                        "(default 4094)")
    parser.add_argument("--limit-request-fields", type=int, default=None,
                        metavar="N",
                        help="most header lines in a request; more: 431 "
                        "(default 100)")
    parser.add_argument("--limit-request-field-size", type=int,
                        default=None, metavar="BYTES",
                        help="longest header line; longer: 431 "
                        "(default 8190)")
    parser.add_argument("--max-connections", type=int, default=None,
                        metavar="N",
                        help="open connections; when full an idle one is "
                        "closed to admit a new one, and with none idle "
                        "the new one is refused (default 10000)")
    parser.add_argument("--body-read-timeout", type=float, default=None,
                        metavar="SECONDS",
                        help="each read of a request body waits at most "
                        "this for data; else 408 (default 30)")
    parser.add_argument("--send-timeout", type=float, default=None,
                        metavar="SECONDS",
                        help="each write of a response must reach the "
                        "client within this; else the connection closes "
                        "(default 30)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    try:
        logging.basicConfig(level=args.log_level.upper(),
                            format="%(asctime)s %(name)s %(levelname)s "
                            "%(message)s")
    except ValueError as exc:       # an unknown level name: a usage error
        parser.error("--log-level: %s" % exc)
    if args.chdir:
        os.chdir(args.chdir)
    sys.path.insert(0, os.getcwd())

    options = dict(dispatch=args.dispatch, threads=args.threads,
                   max_handlers=args.max_handlers, certfile=args.certfile,
                   keyfile=args.keyfile, h2c=args.h2c,
                   access_log=args.access_log,
                   forwarded_allow_ips=args.forwarded_allow_ips,
                   metrics_bind=args.metrics_bind,
                   limit_request_line=args.limit_request_line,
                   limit_request_fields=args.limit_request_fields,
                   limit_request_field_size=args.limit_request_field_size,
                   max_connections=args.max_connections,
                   body_read_timeout=args.body_read_timeout,
                   send_timeout=args.send_timeout)
    scheme = "https" if args.certfile else "http"
    supervised = dict(workers=args.workers, max_requests=args.max_requests,
                      max_requests_jitter=args.max_requests_jitter)
    statics = []
    for spec in args.static:
        prefix, sep, directory = spec.partition("=")
        if not sep or not prefix or not directory:
            parser.error("--static wants PREFIX=DIR, got %r" % spec)
        statics.append((prefix, directory))
    if args.metrics_bind and (args.workers != 1 or
                              args.max_requests is not None):
        # Every worker would bind the address (the second one fails:
        # metrics_bind has no SO_REUSEPORT).
        parser.error("--metrics-bind serves one process: not with "
                     "--workers or --max-requests")
    if (args.workers != 1 or args.max_requests is not None) and \
            _workers.WORKER is None:
        return supervise(parser, args, options, supervised, scheme,
                         statics)
    if args.app:
        host, port, listen_fd = bind_target(args.bind or "127.0.0.1:8000",
                                            8000)
        app = load_app(args.app)
    else:
        host, port, listen_fd = bind_target(args.bind or "127.0.0.1:5000",
                                            5000)
    try:
        if args.app:
            srv = wsgi.make_server(app, server_name=host, **options)
        else:
            srv = gohttp.Server(**options)
            srv.route("/", hello)
        add_statics(srv, statics)
    except (TypeError, ValueError) as exc:
        # e.g. --threads 0 or a bad --certfile: a usage error (exit 2),
        # not a traceback.
        parser.error(str(exc))

    def ready(bound):
        print("gohttp: listening on %s://%s:%d/" % (scheme, url_host(host),
                                                    bound), flush=True)

    try:
        gohttp.run(host, port, server=srv, drain_timeout=args.drain_timeout,
                   ready=ready, listen_fd=listen_fd, **supervised)
    except OSError as exc:
        srv.close()
        print("gohttp: cannot listen on %s:%d: %s" % (host, port, exc),
              file=sys.stderr)
        return 1
    return 0


def add_statics(srv, statics):
    """The --static routes on srv; a bad one closes srv and raises."""
    try:
        for prefix, directory in statics:
            srv.static(prefix, directory)
    except BaseException:
        srv.close()
        raise


def supervise(parser, args, options, supervised, scheme, statics):
    """The supervisor of --workers/--max-requests.  It does not import the
    application (each worker does); the options are checked here so a
    usage error is reported once, by this process."""
    try:
        probe = gohttp.Server(**options)
        add_statics(probe, statics)
        probe.close()
        _workers.Supervisor("127.0.0.1", 0, drain_timeout=args.drain_timeout,
                            command=[sys.executable], **supervised)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    default_port = 8000 if args.app else 5000
    host, port, listen_fd = bind_target(
        args.bind or "127.0.0.1:%d" % default_port, default_port)

    def ready(bound):
        print("gohttp: listening on %s://%s:%d/" % (scheme, url_host(host),
                                                    bound), flush=True)

    try:
        gohttp.run(host, port, drain_timeout=args.drain_timeout, ready=ready,
                   listen_fd=listen_fd, **supervised)
    except OSError as exc:
        print("gohttp: cannot listen on %s:%d: %s" % (host, port, exc),
              file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

/*
 * gohttp.h - the public C API of gohttp: Go's net/http server answering
 * requests with handlers written in C.
 *
 * Conventions that hold for every function below unless its comment says
 * otherwise:
 *
 *  - Return value: 0 (GOHTTP_OK) or a byte count on success, a negative
 *    GOHTTP_E* code on failure. gohttp_strerror(code) names the code;
 *    gohttp_last_error() gives the detail of the last failure on the
 *    calling thread (for example the OS reason of a bind failure).
 *  - Strings passed IN are (pointer, length) pairs wherever they can hold
 *    arbitrary bytes, so an embedded NUL is detected and rejected instead of
 *    silently truncating. A NULL pointer with a non-zero length, or a
 *    negative length, is GOHTTP_EINVAL. Patterns and addresses are
 *    NUL-terminated. Length limits (longer is GOHTTP_EINVAL): patterns and
 *    path-value names 4096 bytes, addresses 1024 bytes, a header name or
 *    value the server's max_header_bytes each.
 *  - Ownership: the library never keeps a pointer the caller passed in; it
 *    copies what it needs before returning. Pointers the library hands OUT
 *    (the request view, gohttp_last_error, gohttp_strerror) are owned by the
 *    library and valid only for the lifetime stated at each function.
 *  - Threads: every function may be called from any thread. Calls on one
 *    response are serialized by the library.
 *  - Handles: servers and responses are 64-bit generation-checked handles.
 *    0 is never valid. A handle that was freed, never issued, or belongs to
 *    a finished request is rejected with GOHTTP_ESTALE; it never reaches
 *    another object.
 *  - What is defended: no request a client sends and no argument the
 *    library can check (a NULL or 0, a stale, forged or foreign handle, a
 *    negative or over-limit length or option, a bad status, header name
 *    or value, a call in the wrong state) crashes the process, leaks, or
 *    reaches another request: each is refused with a code, and Go panics
 *    inside the library are recovered and returned as GOHTTP_EPANIC. What
 *    the library accepts and refuses on the wire, and why, is the table in
 *    SAFETY.md ("What gohttp accepts and refuses").
 *  - The caller's contract, which the library cannot check: a non-NULL
 *    pointer must point to memory the caller owns, and a length must not
 *    go past the caller's buffer (gohttp_write(w, buf16, 1 << 34) reads
 *    and sends whatever follows buf16 until it faults); NUL-terminated
 *    arguments must be terminated within their length limit or readable
 *    up to it; the request view must not be used after the handler
 *    returned (push) or gohttp_done (pull); userdata must outlive the
 *    server. A violation is undefined behaviour as in any C library.
 */
#ifndef GOHTTP_H
#define GOHTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A server handle and a response (exchange) handle. 0 is never valid. */
typedef uint64_t gohttp_server;
typedef uint64_t gohttp_handle;

typedef enum gohttp_error {
    GOHTTP_OK = 0,
    GOHTTP_EINVAL = -1,       /* bad argument: NULL, negative length, bad
                                 status, header name not a token, control
                                 byte in a header value, bad or second
                                 Content-Length, over-long argument        */
    GOHTTP_ESTALE = -2,       /* stale, freed, forged or 0 handle          */
    GOHTTP_ENOMEM = -3,       /* allocation failed or handle table full    */
    GOHTTP_EEXIST = -4,       /* route pattern conflicts with a route      */
    GOHTTP_EPATTERN = -5,     /* route pattern is not valid Go 1.22 syntax */
    GOHTTP_EBIND = -6,        /* listen failed; last error has OS reason   */
    GOHTTP_ESTATE = -7,       /* call not valid in the object's state (e.g.
                                 route after start, header after body)     */
    GOHTTP_ETIMEDOUT = -8,    /* the wait ran out                          */
    GOHTTP_EBUSY = -9,        /* free of a server that is still running    */
    GOHTTP_EIO = -10,         /* the client went away; write/read failed   */
    GOHTTP_ETOOLARGE = -11,   /* request body over max_body_bytes (413)    */
    GOHTTP_EPANIC = -12,      /* a Go panic was recovered                  */
    GOHTTP_ECLOSED = -13,     /* server has stopped (gohttp_next)          */
    GOHTTP_EDEADLK = -14,     /* the call would wait on the calling
                                 handler itself (gohttp_wait inside one of
                                 the server's own handlers)               */
    GOHTTP_EBADREQ = -15,     /* the request body is malformed (bad chunk
                                 size or terminator, forbidden trailer);
                                 the answer is 400 if nothing was written  */
    GOHTTP_ELENGTH = -16      /* write past the Content-Length the handler
                                 declared; the extra bytes are not sent    */
} gohttp_error;

/* Static, NUL-terminated name of a code ("stale handle", ...). Never NULL;
 * unknown codes give "unknown error". Owned by the library, never freed. */
const char *gohttp_strerror(int code);

/* Detail of the last failed call made by the calling thread, or "" if none.
 * Like errno, a successful call does not clear it: read it right after a
 * call returned an error. At most 511 bytes (longer details are
 * truncated). Owned by the library (thread-local buffer); valid until the
 * calling thread's next gohttp_* call. */
const char *gohttp_last_error(void);

/* ------------------------------------------------------------------ */
/* The request view                                                    */
/* ------------------------------------------------------------------ */

typedef struct gohttp_header {
    const char *name;       /* canonical form, e.g. "Content-Type" */
    size_t name_len;
    const char *value;
    size_t value_len;
} gohttp_header;

/* A read-only view of one request. Every string is NUL-terminated AND
 * carries its length (binary-safe). The whole view lives in ONE arena
 * allocation owned by the library: it is valid from the moment the handler
 * is called until the handler returns (push mode) or gohttp_done is called
 * (pull mode), and must not be used or freed afterwards. */
typedef struct gohttp_request {
    const char *method;      size_t method_len;
    const char *url;         size_t url_len;         /* request-target as sent */
    const char *path;        size_t path_len;        /* decoded URL path       */
    const char *raw_query;   size_t raw_query_len;   /* without the '?'        */
    const char *host;        size_t host_len;
    const char *proto;       size_t proto_len;       /* "HTTP/1.1"             */
    const char *remote_addr; size_t remote_addr_len; /* "ip:port"              */
    const gohttp_header *headers; size_t header_count; /* one entry per value  */
    int64_t content_length;  /* -1 when unknown (chunked)                     */
    /* Added at the end (the library allocates the view, so code built
     * against an older header keeps working): */
    const char *scheme;      size_t scheme_len;      /* "http" or "https"      */
    int32_t forwarded;       /* GOHTTP_FORWARDED_* bits: which of
                                remote_addr, scheme and host came from a
                                trusted proxy's X-Forwarded-* header (see
                                gohttp_options.forwarded_allow_ips); 0 when
                                none did                                   */
} gohttp_request;

/* Bits of gohttp_request.forwarded. */
#define GOHTTP_FORWARDED_FOR 1   /* remote_addr from X-Forwarded-For      */
#define GOHTTP_FORWARDED_PROTO 2 /* scheme from X-Forwarded-Proto         */
#define GOHTTP_FORWARDED_HOST 4  /* host from X-Forwarded-Host            */

/* A request handler. w identifies the response and the request body; it
 * becomes stale (GOHTTP_ESTALE) as soon as the handler returns, including
 * for copies kept by other threads. req is valid only until return.
 * Called on a thread owned by the library; at most max_handlers run at once
 * per server. */
typedef void (*gohttp_handler)(gohttp_handle w, const gohttp_request *req,
                               void *userdata);

/* ------------------------------------------------------------------ */
/* Servers                                                             */
/* ------------------------------------------------------------------ */

/* The defaults of gohttp_options: what gohttp_options_init fills in and
 * the value a zero field takes in gohttp_server_new. Every other statement
 * of them (the comments below, the Python README, the tests) is checked
 * against these by the tests. */
#define GOHTTP_DEFAULT_READ_HEADER_TIMEOUT_MS 10000
#define GOHTTP_DEFAULT_IDLE_TIMEOUT_MS 120000
#define GOHTTP_DEFAULT_WRITE_TIMEOUT_MS 0
#define GOHTTP_DEFAULT_MAX_HEADER_BYTES (1 << 20)
#define GOHTTP_DEFAULT_MAX_BODY_BYTES (10 << 20)
#define GOHTTP_DEFAULT_MAX_HANDLERS 64
#define GOHTTP_DEFAULT_QUEUE_TIMEOUT_MS 10000
#define GOHTTP_DEFAULT_REUSE_PORT 0
#define GOHTTP_DEFAULT_LIMIT_REQUEST_LINE 4094
#define GOHTTP_DEFAULT_LIMIT_REQUEST_FIELDS 100
#define GOHTTP_DEFAULT_LIMIT_REQUEST_FIELD_SIZE 8190
#define GOHTTP_DEFAULT_BODY_READ_TIMEOUT_MS 30000
#define GOHTTP_DEFAULT_SEND_TIMEOUT_MS 30000
#define GOHTTP_DEFAULT_MAX_CONNECTIONS 10000

typedef struct gohttp_options {
    int64_t read_header_timeout_ms; /* default 10000                       */
    int64_t idle_timeout_ms;        /* default 120000                      */
    int64_t write_timeout_ms;       /* default 0 = none                    */
    int64_t max_header_bytes;       /* default 1 MiB                       */
    int64_t max_body_bytes;         /* default 10 MiB; larger bodies: 413  */
    int32_t max_handlers;           /* handlers running at once, default
                                       64, at most 8192                    */
    int64_t queue_timeout_ms;       /* wait for a handler slot before 503,
                                       default 10000                       */
    int32_t reuse_port;             /* 1: set SO_REUSEPORT on the listener
                                       before bind, so several servers (in
                                       one or several processes of the same
                                       user) can listen on one port and the
                                       kernel spreads connections over
                                       them; default 0; other values are
                                       GOHTTP_EINVAL                       */
    int64_t limit_request_line;     /* request line bytes, default 4094;
                                       longer: 400                         */
    int64_t limit_request_fields;   /* header lines, default 100; more: 431 */
    int64_t limit_request_field_size; /* bytes of one header line, default
                                       8190; longer: 431                   */
    int64_t body_read_timeout_ms;   /* each read of the request body must
                                       receive data within this, default
                                       30000; else GOHTTP_ETIMEDOUT and 408 */
    int64_t send_timeout_ms;        /* each write of the response must
                                       complete within this, default 30000;
                                       else GOHTTP_EIO and the connection
                                       closes                              */
    int64_t max_connections;        /* open connections, default 10000;
                                       when full the idle ones are closed
                                       first, then new ones are refused    */
    const char *certfile;           /* HTTPS: path of a PEM certificate
                                       (chain), NUL-terminated, at most
                                       4096 bytes; NULL (default): plain
                                       HTTP. Read and copied by
                                       gohttp_server_new, never retained:
                                       the caller keeps owning the string.
                                       Go's crypto/tls defaults; ALPN
                                       offers h2 and http/1.1, so HTTP/2
                                       clients get HTTP/2               */
    const char *keyfile;            /* path of the PEM private key of
                                       certfile; same rules. Both or
                                       neither: one alone, or a missing,
                                       unreadable or mismatched pair, is
                                       GOHTTP_EINVAL at gohttp_server_new
                                       with the reason in the last error */
    int32_t h2c;                    /* 1: also serve HTTP/2 without TLS
                                       ("prior knowledge": a client that
                                       starts with the HTTP/2 preface);
                                       HTTP/1.1 keeps working on the same
                                       port. Default 0; other values are
                                       GOHTTP_EINVAL. Meant for a proxy in
                                       front that speaks h2c            */
    const char *access_log;         /* path of the access log, "-" for
                                       stdout, NULL (default) for none:
                                       one line per request, Common Log
                                       Format plus the request time in
                                       microseconds, written by Go (no
                                       handler involved). NUL-terminated,
                                       at most 4096 bytes, copied by
                                       gohttp_server_new, never retained;
                                       the file is opened for appending
                                       there (GOHTTP_EINVAL with the
                                       reason if it cannot be) and closed
                                       by gohttp_free                    */
    const char *forwarded_allow_ips; /* peers trusted to set the client's
                                       address, scheme and host: a
                                       comma-separated list of IP
                                       addresses and CIDR blocks
                                       ("127.0.0.1, 10.0.0.0/8, ::1"), or
                                       "*" for every peer; NULL or ""
                                       (default): none. NUL-terminated, at
                                       most 65536 bytes, parsed and copied
                                       by gohttp_server_new (a bad entry
                                       is GOHTTP_EINVAL naming it), never
                                       retained. A request from a trusted
                                       peer gets remote_addr from
                                       X-Forwarded-For (the rightmost hop
                                       that is not itself trusted, port 0
                                       unless the hop gave one), scheme
                                       from X-Forwarded-Proto ("http" or
                                       "https") and host from
                                       X-Forwarded-Host (last value each);
                                       from any other peer they are
                                       ordinary headers                  */
    const char *metrics_bind;       /* "host:port" of a second listener
                                       serving Prometheus text format at
                                       GET /metrics (requests by status
                                       class, 400/408/413/431 counts, in
                                       flight, handler slots busy, queue
                                       waits and 503s, a latency
                                       histogram, the gohttp_stats
                                       counters); NULL (default): none.
                                       NUL-terminated, at most 1024
                                       bytes, copied by gohttp_server_new,
                                       never retained. Bound by
                                       gohttp_start (a failure is
                                       GOHTTP_EBIND and the server does
                                       not start), closed when the server
                                       has stopped                       */
} gohttp_options;

/* Fill *opts with the defaults above. */
void gohttp_options_init(gohttp_options *opts);

/* Create a server. opts may be NULL (defaults); zero fields take their
 * default; negative fields are GOHTTP_EINVAL, and so are max_handlers above
 * 8192 (each running handler holds an OS thread, and the Go runtime aborts
 * the process past 10000 threads), a max_handlers that would bring the sum
 * over the live (not yet freed) servers of the process above 8192,
 * max_header_bytes above 1 GiB, the three request
 * limits above 1 MiB, max_connections above 1048576 and reuse_port
 * or h2c other than 0 or 1 (the last error
 * names the field). On success stores the handle in *out. The caller owns
 * the server and must gohttp_free it. */
int gohttp_server_new(const gohttp_options *opts, gohttp_server *out);

/* Register fn for a Go 1.22 ServeMux pattern ("GET /items/{id}", "/").
 * A catch-all route (pattern path "/") gets every path as the client sent
 * it ("//x", "/a/../b"); other patterns keep ServeMux's matching, and a
 * path that needs cleaning to match them is redirected (307) to the
 * cleaned path, escaped once. A path with %00 is refused (400) before any
 * route.
 * Only before start. Invalid pattern: GOHTTP_EPATTERN; one that conflicts
 * with an existing route: GOHTTP_EEXIST (Go's message, naming both
 * patterns, is the last error). After start: GOHTTP_ESTATE. userdata is
 * passed to fn as is; the caller keeps it alive until gohttp_wait has
 * returned 0 (a rejected route keeps no reference to it). */
int gohttp_route(gohttp_server s, const char *pattern, gohttp_handler fn,
                 void *userdata);

/* Serve the files of directory under the path prefix ("/static" or
 * "/static/": GET and HEAD of /static/a/b.css answer directory/a/b.css),
 * from Go alone: such requests never enter C or a handler and take no
 * handler slot. Ranges, If-Modified-Since / If-None-Match, content types
 * by extension, sendfile on plain TCP. A directory is served as its
 * index.html, never listed (404 without one). Nothing outside directory
 * is ever served: ".." and its encodings are cleaned away, and files are
 * opened through an os.Root, which refuses symlinks that leave it.
 * prefix: NUL-terminated, absolute, no wildcards, spaces or dot segments,
 * at most 4096 bytes; directory: NUL-terminated path of an existing
 * directory, at most 4096 bytes. Both are copied, never retained; the
 * directory is opened now (bad prefix or directory: GOHTTP_EINVAL with
 * the reason) and closed by gohttp_free. The same pattern rules as
 * gohttp_route apply (GOHTTP_EEXIST, GOHTTP_ESTATE after start). */
int gohttp_route_static(gohttp_server s, const char *prefix,
                        const char *directory);

/* Start serving in the background on addr ("127.0.0.1:0", ":8080").
 * Returns the bound TCP port (> 0), or GOHTTP_EBIND with the OS reason in
 * gohttp_last_error(). Port 0 picks a free port. A server starts once:
 * starting it again, or after gohttp_shutdown, is GOHTTP_ESTATE. */
int gohttp_start(gohttp_server s, const char *addr);

/* gohttp_start on a socket the caller already made: fd must be a TCP
 * (IPv4 or IPv6) stream socket that is bound and listening (listen()
 * called), for example one a supervisor shares with its worker processes
 * or one inherited from systemd socket activation. Returns the port it
 * listens on (> 0) or a negative code.
 * Ownership: the caller keeps owning fd. The library serves on its own
 * duplicate (made close-on-exec) and never closes, reads or changes fd
 * itself, except that the socket's open file description, which the
 * duplicates share, is set non-blocking. The caller may close fd as soon
 * as this returns, success or not; the socket stays open while the
 * server or any other process holds a descriptor of it, and connections
 * waiting in its accept queue stay there when this server's duplicate is
 * closed at gohttp_shutdown (another holder can still accept them).
 * Errors: fd negative, not open, not a socket, not TCP, or not listening:
 * GOHTTP_EINVAL with the reason in gohttp_last_error(); a failed
 * duplicate: GOHTTP_EBIND with the OS reason. Every option applies as
 * for gohttp_start (TLS, h2c, max_connections, the request limits,
 * metrics_bind, which is bound here too) except reuse_port, which only
 * matters for a socket the library binds. Same state rules as
 * gohttp_start: once, only before shutdown, else GOHTTP_ESTATE (checked
 * before fd is looked at, after its sign). */
int gohttp_start_fd(gohttp_server s, int fd);

/* gohttp_start, then block until the server has fully stopped after a
 * gohttp_shutdown. Returns 0 after a shutdown, or a start error. */
int gohttp_listen_and_serve(gohttp_server s, const char *addr);

/* Begin a graceful shutdown and return at once: the listener is closed
 * before it returns (a connection attempted afterwards is refused),
 * a connection accepted before but whose first request had not come yet
 * gets up to 250 ms (within timeout_ms) to send it, and that request is
 * served as an in-flight one (its client sent it to a listening server),
 * idle connections close, in-flight handlers get timeout_ms to finish,
 * then remaining connections are closed (the handlers themselves still run
 * to completion; gohttp_wait waits for them). timeout_ms -1 lets handlers
 * run as long as they need; other negative values are GOHTTP_EINVAL. Safe
 * from any thread, including from inside one of this server's handlers
 * (never deadlocks). Calling it again is harmless: a later call with a
 * shorter timeout shortens the drain, a longer one (or -1) does not extend
 * it. On a server that was never started it just marks it stopped. */
int gohttp_shutdown(gohttp_server s, int64_t timeout_ms);

/* Block until the server has stopped and every handler has returned, or
 * timeout_ms passes (GOHTTP_ETIMEDOUT; -1 waits forever, 0 polls). Called
 * from inside one of the server's own handlers, or by a thread holding one
 * of its pulled exchanges, it returns GOHTTP_EDEADLK. A server that was
 * never started nor shut down: GOHTTP_ESTATE. */
int gohttp_wait(gohttp_server s, int64_t timeout_ms);

/* Free a server that was never started or has stopped (gohttp_wait
 * returned 0); GOHTTP_EBUSY while it runs (including while a handler that
 * outlived the shutdown timeout still runs). The handle is stale
 * afterwards: a second free is GOHTTP_ESTALE. */
int gohttp_free(gohttp_server s);

/* ------------------------------------------------------------------ */
/* Responses (valid while the handler runs)                            */
/* ------------------------------------------------------------------ */

/* Send the status line and headers. status must be in 100..999. A second
 * call, or one after the body started, is GOHTTP_ESTATE. 1xx statuses other
 * than 101 are informational (e.g. 103 Early Hints): they are sent at once
 * and the final status is still to come. */
int gohttp_write_header(gohttp_handle w, int status);

/* Set (replace), add, or delete a response header. name must be an HTTP
 * token; value must not contain a control byte (0x00-0x1f other than HTAB,
 * or 0x7f). A Content-Length value must be 1 to 18 digits, and a second
 * one may not be added (set replaces it): both GOHTTP_EINVAL, so the
 * client can never read part of the body as the next response. After the
 * headers were sent: GOHTTP_ESTATE. */
int gohttp_set_header(gohttp_handle w, const char *name, size_t name_len,
                      const char *value, size_t value_len);
int gohttp_add_header(gohttp_handle w, const char *name, size_t name_len,
                      const char *value, size_t value_len);
int gohttp_del_header(gohttp_handle w, const char *name, size_t name_len);

/* Write len bytes of body (status 200 is sent first if none was). Returns
 * len, or a negative code (GOHTTP_EIO when the client went away or did not
 * take the bytes within send_timeout_ms, GOHTTP_ESTATE when the status
 * sent allows no body, e.g. 204 or 304: the status itself still goes out,
 * GOHTTP_ELENGTH past the Content-Length the handler set). */
int64_t gohttp_write(gohttp_handle w, const void *buf, int64_t len);

/* A whole response in one call, for handlers that know it at once: add
 * each of headers[0..header_count) (as gohttp_add_header), then send
 * status (as gohttp_write_header; 0 sends none, so a body goes out under
 * 200 or the status sent before), then write body_len bytes of body (as
 * gohttp_write; body may be NULL when body_len is 0). Every header is
 * validated before anything changes: on GOHTTP_EINVAL or GOHTTP_ESTATE
 * from a header, nothing was sent or set. Returns the body bytes written
 * (0 for none) or a negative code. At most 65536 headers; headers and body
 * are only read during the call. Further gohttp_write calls may follow. */
int64_t gohttp_respond(gohttp_handle w, int status,
                       const gohttp_header *headers, size_t header_count,
                       const void *body, int64_t body_len);

/* Send buffered body bytes to the client now (chunked encoding when no
 * Content-Length was set). */
int gohttp_flush(gohttp_handle w);

/* Close the connection once the handler returns instead of completing the
 * response (what a server does when a handler fails after sending part of
 * the body). */
int gohttp_abort(gohttp_handle w);

/* ------------------------------------------------------------------ */
/* Request body and path values                                        */
/* ------------------------------------------------------------------ */

/* Read up to cap bytes of the request body into buf. Returns the count,
 * 0 at end of body, GOHTTP_ETOOLARGE once the body exceeds max_body_bytes
 * (the response becomes 413 if the handler writes nothing; a status the
 * handler then sends with gohttp_write_header is sent as is, and a body
 * written without one goes out with status 413), GOHTTP_EBADREQ for a
 * malformed chunked body (400 the same way), GOHTTP_ETIMEDOUT when no
 * body byte came within body_read_timeout_ms (408 the same way),
 * GOHTTP_EIO if the client went away. At most 1 GiB is read per call; cap 0 returns 0. For
 * HTTP/1.x read the body before writing the response (net/http may close
 * the body once the response started). */
int64_t gohttp_read_body(gohttp_handle w, void *buf, int64_t cap);

/* Copy the value of path wildcard name ("id" in "/items/{id}") into buf
 * (up to cap bytes, NUL-terminated when it fits) and return its full
 * length, like snprintf: a result >= cap means buf was too small. Absent
 * wildcards give 0. */
int64_t gohttp_path_value(gohttp_handle w, const char *name, char *buf,
                          int64_t cap);

/* ------------------------------------------------------------------ */
/* Pull mode: handler threads owned by the host                        */
/* ------------------------------------------------------------------ */

/* An exchange taken with gohttp_next. */
typedef struct gohttp_exchange {
    gohttp_handle w;
    const gohttp_request *req;   /* valid until gohttp_done(w) */
    void *userdata;              /* as given to gohttp_route_queue */
} gohttp_exchange;

/* Route pattern to the server's queue instead of a C function: matching
 * requests wait (up to queue_timeout_ms, then 503) for a host thread to
 * take them with gohttp_next. Same pattern rules as gohttp_route. */
int gohttp_route_queue(gohttp_server s, const char *pattern, void *userdata);

/* Take the next queued exchange, waiting up to timeout_ms (-1 forever).
 * Returns 0 and fills *out, GOHTTP_ETIMEDOUT, or GOHTTP_ECLOSED once the
 * server has stopped. While a shutdown drains, the requests received
 * before it are still handed out (they are in flight like any other); a
 * request nobody takes within queue_timeout_ms gets 503. The taker
 * must call gohttp_done(out->w); until then the request's handler slot
 * stays taken and the server cannot finish stopping. A call that comes
 * 5 ms or more after the calling thread's last such yield first lets Go's
 * scheduler run (so Go does not treat a thread that keeps taking requests
 * as one that never yields): at most 200 times a second per thread, that
 * call takes longer, by a Go scheduling round (50-160 us on average under
 * load on a 2-CPU machine, up to about 2 ms while Go is busy). */
int gohttp_next(gohttp_server s, int64_t timeout_ms, gohttp_exchange *out);

/* Finish a pulled exchange: the response is completed and w becomes
 * stale. Returns once w is stale and the request view is freed. What is
 * left of the response (net/http's buffer) goes out once Go resumes the
 * request: at once when no other request is queued or the exchange was
 * out with the host for 200 us or more; otherwise the library may hold
 * that wake-up and make it together with those of later done calls (one
 * wake of Go's scheduler for several responses): at most 7 held, each
 * for about 1 ms at most. A second done is GOHTTP_ESTALE; done on a push
 * handler's w is GOHTTP_ESTATE (push handlers finish by returning). */
int gohttp_done(gohttp_handle w);

/* ------------------------------------------------------------------ */
/* Live-object counters                                                */
/* ------------------------------------------------------------------ */

typedef struct gohttp_counters {
    int64_t live_handles;      /* response (exchange) handles not yet freed */
    int64_t live_servers;      /* servers not yet gohttp_free'd           */
    int64_t live_arenas;       /* request arenas not yet freed            */
    int64_t arena_bytes;       /* bytes held by live arenas               */
    int64_t requests_served;   /* handlers completed (cumulative)         */
    int64_t stale_rejections;  /* calls rejected with GOHTTP_ESTALE       */
    int64_t panics_recovered;  /* Go panics turned into codes             */
    int64_t live_tokens;       /* Go-side exchange tokens not yet dropped */
    int64_t live_go_handles;   /* Go runtime/cgo.Handles not yet deleted
                                  (one per server not yet gohttp_free'd) */
    int64_t host_wait_ns;      /* handler time spent waiting in the host,
                                  as gohttp_note_host_wait reported it
                                  (cumulative)                          */
} gohttp_counters;

/* Snapshot the process-wide counters into *out. NULL: GOHTTP_EINVAL. */
int gohttp_stats(gohttp_counters *out);

/* Report that a handler, once it had its exchange, waited ns nanoseconds
 * in the host before it could run (the Python package reports each wait
 * for the GIL). Added to host_wait_ns and to the metrics endpoint's
 * gohttp_host_wait_seconds_total. A plain atomic add in C: no call into
 * Go, safe from any thread. A negative ns is ignored. */
void gohttp_note_host_wait(int64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* GOHTTP_H */

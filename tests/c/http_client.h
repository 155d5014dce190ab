/*
 * http_client.h - a tiny blocking HTTP/1.1 client for the C-hosted tests.
 *
 * Why not libcurl: the tests also run under TSan and valgrind, and every
 * extra library in the process is more noise for those tools; this client
 * is a few hundred lines of plain sockets that they see in full.
 *
 * Scope, deliberately narrow: 127.0.0.1 only, one request at a time per
 * connection, keep-alive, Content-Length / chunked / until-close bodies.
 * Besides whole requests, the steps of one (head, raw bytes, response,
 * the server's close) can be taken one by one, for tests that announce a
 * body and send less, hang up mid-response, or check what follows a
 * response.
 * Every socket has a receive and send timeout, so a server that hangs makes
 * a call fail instead of making the test hang.
 *
 * Threads: an http_conn belongs to one thread at a time; distinct
 * connections may be used from distinct threads concurrently.
 */
#ifndef GOHTTP_TESTS_HTTP_CLIENT_H
#define GOHTTP_TESTS_HTTP_CLIENT_H

#include <stddef.h>

/* One keep-alive connection to 127.0.0.1:port. */
typedef struct http_conn {
    int fd;                 /* -1 when not connected                     */
    int port;
    int timeout_ms;
    size_t len, off;        /* buffered bytes: buf[off..len)             */
    char buf[16384];
} http_conn;

/* A parsed response. Owned by the caller: release with
 * http_response_free. headers and body are NUL-terminated for convenience
 * but body may contain NUL bytes: use body_len. */
typedef struct http_response {
    int status;
    char *head;             /* status line + header lines, as received   */
    size_t head_len;
    char *body;
    size_t body_len;
    int chunked;            /* Transfer-Encoding: chunked was used       */
    int chunk_count;        /* number of non-empty chunks received       */
    int server_closes;      /* "Connection: close" or a body read to EOF */
} http_response;

/* Connect conn to 127.0.0.1:port with the given I/O timeout. Returns 0 or
 * -1 (errno set). The caller must http_close it. */
int http_connect(http_conn *conn, int port, int timeout_ms);

/* Close the socket (harmless when already closed). */
void http_close(http_conn *conn);

/* Send one request on conn and read the whole response into *out.
 * extra_headers: "" or NULL, or full header lines each ending in "\r\n".
 * A body (body_len > 0) is sent with Content-Length. Returns 0, or -1 on
 * any I/O, timeout or parse failure (conn is then closed and *out is
 * empty). If the server announced it closes the connection, conn is
 * closed after the response was read. */
int http_request(http_conn *conn, const char *method, const char *target,
                 const char *extra_headers, const void *body,
                 size_t body_len, http_response *out);

/* One request on a fresh connection ("Connection: close"). Same result
 * rules as http_request. */
int http_fetch(int port, const char *method, const char *target,
               const char *extra_headers, const void *body, size_t body_len,
               http_response *out);

/* The steps of one request, for tests that stop part-way or need the body
 * sent on its own. */

/* Send a request head on conn: request line, Host, "Connection: close"
 * when close_after, extra_headers (as for http_request) and, when
 * content_length >= 0, "Content-Length: content_length" (which the body
 * sent next may fall short of, on purpose). Returns 0 or -1. */
int http_send_head(http_conn *conn, const char *method, const char *target,
                   const char *extra_headers, long long content_length,
                   int close_after);

/* Send n raw bytes on conn (a body or part of one). Returns 0 or -1. */
int http_send_raw(http_conn *conn, const void *buf, size_t n);

/* Whatever bytes arrive next on conn, at most cap of them. Returns the
 * count, 0 at EOF, -1 on error or timeout. */
long http_recv_some(http_conn *conn, void *buf, size_t cap);

/* Read one whole response to a request of method on conn into *out.
 * Returns 0, or -1 (conn is then closed and *out is empty). conn stays
 * open after a response, whatever it announced. */
int http_read_response(http_conn *conn, const char *method,
                       http_response *out);

/* After the last response on a connection the server closes: read to the
 * end. Returns 0 when nothing followed the response (EOF, or a reset: a
 * server that closes with request bytes unread resets the connection),
 * -1 when bytes followed it or the read failed or timed out. Closes conn. */
int http_expect_close(http_conn *conn);

/* Hang up with a reset (SO_LINGER 0), as a client that goes away
 * mid-exchange does. Closes conn. */
void http_abort(http_conn *conn);

/* Number of header lines called name (case-insensitive) in r. */
int http_header_count(const http_response *r, const char *name);

/* Value of the first header called name (case-insensitive) in r, copied
 * into buf (cap bytes, NUL-terminated, truncated if needed). Returns the
 * value length, or -1 when absent. */
long http_header(const http_response *r, const char *name, char *buf,
                 size_t cap);

/* Release what http_request stored in *r and zero it. */
void http_response_free(http_response *r);

/* A TCP listener on 127.0.0.1 with an OS-chosen port, for tests that need
 * a port in use. Returns the fd and stores the port, or -1. */
int http_listen_any(int *port);

/* A currently free 127.0.0.1 port (bind port 0, read it, close). Another
 * process may take it before the caller binds it; callers are tests on
 * loopback where that window is acceptable. Returns the port or -1. */
int http_free_port(void);

/* Wait until 127.0.0.1:port accepts connections, up to timeout_ms.
 * Returns 0 or -1. */
int http_wait_listening(int port, int timeout_ms);

#endif /* GOHTTP_TESTS_HTTP_CLIENT_H */

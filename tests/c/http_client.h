/*
 * http_client.h - a tiny blocking HTTP/1.1 client for the C-hosted tests.
 *
 * Why not libcurl: the tests also run under TSan and valgrind, and every
 * extra library in the process is more noise for those tools; this client
 * is a few hundred lines of plain sockets that they see in full.
 *
 * Scope, deliberately narrow: 127.0.0.1 only, one request at a time per
 * connection, keep-alive, Content-Length / chunked / until-close bodies.
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

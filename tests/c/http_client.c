/*
 * http_client.c - see http_client.h for the contract.
 *
 * Parsing is strict where a lenient client could hide a server bug: a
 * malformed status line, chunk size or Content-Length fails the request
 * instead of being guessed around.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Longest status or header line accepted; longer means a broken server. */
#define MAX_LINE 65536

/* A growable byte buffer, always NUL-terminated when non-empty. */
typedef struct bytes {
    char *p;
    size_t len, cap;
} bytes;

/* Append n bytes to b. Returns 0 or -1 (out of memory). */
static int bytes_append(bytes *b, const void *src, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap); /* owned by b, freed by caller */
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Loopback address for port in network order. */
static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int http_connect(http_conn *conn, int port, int timeout_ms)
{
    conn->fd = -1;
    conn->port = port;
    conn->timeout_ms = timeout_ms;
    conn->len = conn->off = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    int one = 1;
    /* Timeouts make a hung server fail the call instead of the test run;
     * NODELAY avoids Nagle + delayed-ACK stalls on small requests. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    conn->fd = fd;
    return 0;
}

void http_close(http_conn *conn)
{
    if (conn->fd >= 0)
        close(conn->fd);
    conn->fd = -1;
    conn->len = conn->off = 0;
}

/* Refill conn->buf when it is empty. Returns bytes available, 0 at EOF,
 * -1 on error or timeout. */
static ssize_t fill(http_conn *conn)
{
    if (conn->off < conn->len)
        return (ssize_t)(conn->len - conn->off);
    conn->off = conn->len = 0;
    for (;;) {
        ssize_t n = recv(conn->fd, conn->buf, sizeof conn->buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            conn->len = (size_t)n;
        return n;
    }
}

/* Read one CRLF-terminated line into *line (without the CRLF). Returns 0,
 * or -1 on EOF, error, a bare LF or an over-long line. */
static int read_line(http_conn *conn, bytes *line)
{
    line->len = 0;
    for (;;) {
        ssize_t avail = fill(conn);
        if (avail <= 0)
            return -1;
        char *start = conn->buf + conn->off;
        char *nl = memchr(start, '\n', (size_t)avail);
        size_t take = nl ? (size_t)(nl - start) + 1 : (size_t)avail;
        if (bytes_append(line, start, take) != 0)
            return -1;
        conn->off += take;
        if (line->len > MAX_LINE)
            return -1;
        if (nl) {
            if (line->len < 2 || line->p[line->len - 2] != '\r')
                return -1;
            line->len -= 2;
            line->p[line->len] = '\0';
            return 0;
        }
    }
}

/* Append exactly n body bytes to out. Returns 0 or -1. */
static int read_exact(http_conn *conn, size_t n, bytes *out)
{
    while (n > 0) {
        ssize_t avail = fill(conn);
        if (avail <= 0)
            return -1;
        size_t take = (size_t)avail < n ? (size_t)avail : n;
        if (bytes_append(out, conn->buf + conn->off, take) != 0)
            return -1;
        conn->off += take;
        n -= take;
    }
    return 0;
}

/* Parse a non-negative decimal or hex number filling the whole of s (hex
 * may stop at ';' for chunk extensions). Returns 0 or -1. */
static int parse_size(const char *s, int base, size_t *out)
{
    if (!*s)
        return -1;
    size_t v = 0;
    for (; *s && !(base == 16 && *s == ';'); s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return -1;
        if (v > (SIZE_MAX - (size_t)d) / (size_t)base)
            return -1;
        v = v * (size_t)base + (size_t)d;
    }
    *out = v;
    return 0;
}

/* Does the comma-separated header value contain token (case-insensitive)? */
static int has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *trim = end;
        while (trim > p && (trim[-1] == ' ' || trim[-1] == '\t'))
            trim--;
        if ((size_t)(trim - p) == n && strncasecmp(p, token, n) == 0)
            return 1;
        p = end;
    }
    return 0;
}

/* Read status line, headers and body of one response. */
static int read_response(http_conn *conn, const char *method,
                         http_response *out)
{
    memset(out, 0, sizeof *out);
    bytes line = { 0 }, head = { 0 }, body = { 0 };
    int rc = -1;
    int status;
    size_t content_length = 0;
    int have_length, chunked, closes;

    do { /* 1xx interim responses are skipped (none expected, but legal) */
        head.len = 0;
        have_length = chunked = closes = 0;
        if (read_line(conn, &line) != 0)
            goto out;
        if (line.len < 12 || strncmp(line.p, "HTTP/1.", 7) != 0 ||
            line.p[8] != ' ' || sscanf(line.p + 9, "%3d", &status) != 1)
            goto out;
        if (strncmp(line.p, "HTTP/1.0", 8) == 0)
            closes = 1;
        if (bytes_append(&head, line.p, line.len) != 0 ||
            bytes_append(&head, "\r\n", 2) != 0)
            goto out;
        for (;;) {
            if (read_line(conn, &line) != 0)
                goto out;
            if (line.len == 0)
                break;
            if (bytes_append(&head, line.p, line.len) != 0 ||
                bytes_append(&head, "\r\n", 2) != 0)
                goto out;
            char *colon = memchr(line.p, ':', line.len);
            if (!colon)
                goto out;
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            char *vend = line.p + line.len;
            while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
                *--vend = '\0';
            if (strcasecmp(line.p, "Content-Length") == 0) {
                if (parse_size(value, 10, &content_length) != 0)
                    goto out;
                have_length = 1;
            } else if (strcasecmp(line.p, "Transfer-Encoding") == 0) {
                chunked = has_token(value, "chunked");
            } else if (strcasecmp(line.p, "Connection") == 0) {
                if (has_token(value, "close"))
                    closes = 1;
            }
        }
    } while (status >= 100 && status < 200 && status != 101);

    out->chunked = chunked;
    out->chunk_count = 0;
    if (strcmp(method, "HEAD") == 0 || status == 204 || status == 304) {
        /* no body by definition */
    } else if (chunked) {
        for (;;) {
            size_t size;
            if (read_line(conn, &line) != 0 ||
                parse_size(line.p, 16, &size) != 0)
                goto out;
            if (size == 0)
                break;
            if (read_exact(conn, size, &body) != 0)
                goto out;
            out->chunk_count++;
            if (read_line(conn, &line) != 0 || line.len != 0)
                goto out;
        }
        do { /* trailers, up to the empty line */
            if (read_line(conn, &line) != 0)
                goto out;
        } while (line.len != 0);
    } else if (have_length) {
        if (read_exact(conn, content_length, &body) != 0)
            goto out;
    } else {
        for (;;) { /* body delimited by the server closing */
            ssize_t n = fill(conn);
            if (n < 0)
                goto out;
            if (n == 0)
                break;
            if (bytes_append(&body, conn->buf + conn->off, (size_t)n) != 0)
                goto out;
            conn->off += (size_t)n;
        }
        closes = 1;
    }
    if (bytes_append(&body, "", 0) != 0 || bytes_append(&head, "", 0) != 0)
        goto out; /* guarantees non-NULL, NUL-terminated buffers */
    out->status = status;
    out->head = head.p;
    out->head_len = head.len;
    out->body = body.p;
    out->body_len = body.len;
    out->server_closes = closes;
    head.p = body.p = NULL;
    rc = 0;
out:
    free(line.p);
    free(head.p);
    free(body.p);
    return rc;
}

/* Write all of buf, retrying short writes. Returns 0 or -1. */
static int send_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Append a request head to req: request line, Host, "Connection: close"
 * when close_after, extra_headers, Content-Length when content_length >= 0,
 * the empty line. Returns 0 or -1 (out of memory). */
static int build_head(bytes *req, const http_conn *conn, const char *method,
                      const char *target, const char *extra_headers,
                      long long content_length, int close_after)
{
    if (!extra_headers)
        extra_headers = "";
    char fixed[256];
    int fixed_len = snprintf(fixed, sizeof fixed,
                             "Host: 127.0.0.1:%d\r\n%s", conn->port,
                             close_after ? "Connection: close\r\n" : "");
    char length[64] = "";
    if (content_length >= 0)
        snprintf(length, sizeof length, "Content-Length: %lld\r\n",
                 content_length);
    int ok = bytes_append(req, method, strlen(method)) == 0 &&
             bytes_append(req, " ", 1) == 0 &&
             bytes_append(req, target, strlen(target)) == 0 &&
             bytes_append(req, " HTTP/1.1\r\n", 11) == 0 &&
             bytes_append(req, fixed, (size_t)fixed_len) == 0 &&
             bytes_append(req, extra_headers, strlen(extra_headers)) == 0 &&
             bytes_append(req, length, strlen(length)) == 0 &&
             bytes_append(req, "\r\n", 2) == 0;
    return ok ? 0 : -1;
}

/* http_request with an optional "Connection: close". */
static int do_request(http_conn *conn, const char *method, const char *target,
                      const char *extra_headers, const void *body,
                      size_t body_len, int close_after, http_response *out)
{
    memset(out, 0, sizeof *out);
    if (conn->fd < 0)
        return -1;
    bytes req = { 0 };
    /* One buffer for head and body: a single send per request. */
    int ok = build_head(&req, conn, method, target, extra_headers,
                        body_len > 0 ? (long long)body_len : -1,
                        close_after) == 0 &&
             bytes_append(&req, body, body_len) == 0;
    if (ok)
        ok = send_all(conn->fd, req.p, req.len) == 0;
    free(req.p);
    if (ok)
        ok = read_response(conn, method, out) == 0;
    if (!ok || out->server_closes || close_after)
        http_close(conn);
    return ok ? 0 : -1;
}

int http_send_head(http_conn *conn, const char *method, const char *target,
                   const char *extra_headers, long long content_length,
                   int close_after)
{
    if (conn->fd < 0)
        return -1;
    bytes req = { 0 };
    int ok = build_head(&req, conn, method, target, extra_headers,
                        content_length, close_after) == 0 &&
             send_all(conn->fd, req.p, req.len) == 0;
    free(req.p);
    return ok ? 0 : -1;
}

int http_send_raw(http_conn *conn, const void *buf, size_t n)
{
    if (conn->fd < 0)
        return -1;
    return send_all(conn->fd, buf, n);
}

long http_recv_some(http_conn *conn, void *buf, size_t cap)
{
    if (conn->fd < 0)
        return -1;
    ssize_t avail = fill(conn);
    if (avail <= 0)
        return (long)avail;
    size_t take = (size_t)avail < cap ? (size_t)avail : cap;
    memcpy(buf, conn->buf + conn->off, take);
    conn->off += take;
    return (long)take;
}

int http_read_response(http_conn *conn, const char *method,
                       http_response *out)
{
    memset(out, 0, sizeof *out);
    if (conn->fd < 0 || read_response(conn, method, out) != 0) {
        http_close(conn);
        return -1;
    }
    return 0;
}

int http_expect_close(http_conn *conn)
{
    if (conn->fd < 0)
        return -1;
    ssize_t n = fill(conn);
    int rc = n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : -1;
    http_close(conn);
    return rc;
}

void http_abort(http_conn *conn)
{
    if (conn->fd >= 0) {
        struct linger lg = { 1, 0 };
        setsockopt(conn->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    http_close(conn);
}

int http_request(http_conn *conn, const char *method, const char *target,
                 const char *extra_headers, const void *body,
                 size_t body_len, http_response *out)
{
    return do_request(conn, method, target, extra_headers, body, body_len, 0,
                      out);
}

int http_fetch(int port, const char *method, const char *target,
               const char *extra_headers, const void *body, size_t body_len,
               http_response *out)
{
    http_conn conn;
    memset(out, 0, sizeof *out);
    if (http_connect(&conn, port, 10000) != 0)
        return -1;
    int rc = do_request(&conn, method, target, extra_headers, body, body_len,
                        1, out);
    http_close(&conn);
    return rc;
}

/* The header line after position p (a CRLF in r->head) called name, and
 * its end; NULL when there is none. */
static const char *next_header(const char *p, const char *name,
                               const char **eol_out)
{
    size_t n = strlen(name);
    while (p && p[2]) {
        const char *line = p + 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > n && line[n] == ':' &&
            strncasecmp(line, name, n) == 0) {
            *eol_out = eol;
            return line;
        }
        p = eol;
    }
    return NULL;
}

int http_header_count(const http_response *r, const char *name)
{
    int count = 0;
    const char *eol = NULL;
    const char *p = r->head ? strstr(r->head, "\r\n") : NULL;
    while (p && next_header(p, name, &eol)) {
        count++;
        p = eol;
    }
    return count;
}

long http_header(const http_response *r, const char *name, char *buf,
                 size_t cap)
{
    const char *eol = NULL;
    const char *p = r->head ? strstr(r->head, "\r\n") : NULL;
    const char *line = p ? next_header(p, name, &eol) : NULL;
    if (!line)
        return -1;
    const char *v = line + strlen(name) + 1;
    while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
    const char *vend = eol;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    size_t vlen = (size_t)(vend - v);
    if (cap > 0) {
        size_t c = vlen < cap - 1 ? vlen : cap - 1;
        memcpy(buf, v, c);
        buf[c] = '\0';
    }
    return (long)vlen;
}

void http_response_free(http_response *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

int http_listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = loopback(0);
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int http_free_port(void)
{
    int port;
    int fd = http_listen_any(&port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

int http_wait_listening(int port, int timeout_ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        http_conn c;
        if (http_connect(&c, port, 1000) == 0) {
            http_close(&c);
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 +
                       (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms)
            return -1;
        struct timespec nap = { 0, 10 * 1000 * 1000 };
        nanosleep(&nap, NULL);
    }
}

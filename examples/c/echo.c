/*
 * echo.c - a gohttp.h example: answers every request with the request
 * itself, in HTTP/1.1 wire form: the request line, the header lines, an
 * empty line, then the body bytes exactly as received (binary-safe, NUL
 * bytes included).
 *
 *   echo [ADDR]        ADDR defaults to 127.0.0.1:0 (a free port)
 *
 * Prints "listening on port N" once serving, so scripts can find the port.
 * SIGINT or SIGTERM shuts it down gracefully; the exit status is 0 only if
 * every live counter of the library is back to zero.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gohttp.h"
#include "serve_until_signal.h"

/* Read the whole request body into a malloc'd buffer (*out, owned by the
 * caller, freed with free). The library bounds the size by
 * max_body_bytes. Returns the length, or the negative gohttp code. */
static int64_t read_whole_body(gohttp_handle w, char **out)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return GOHTTP_ENOMEM;
    for (;;) {
        if (cap - len < 4096) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return GOHTTP_ENOMEM;
            }
            buf = grown;
            cap *= 2;
        }
        int64_t n = gohttp_read_body(w, buf + len, (int64_t)(cap - len));
        if (n < 0) {
            free(buf);
            return n;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = buf;
    return (int64_t)len;
}

/* The handler. The body is read before anything is written so a body
 * over max_body_bytes still gets the library's 413 instead of a
 * half-sent echo. */
static void echo(gohttp_handle w, const gohttp_request *req, void *userdata)
{
    (void)userdata;
    char *body = NULL;
    int64_t body_len = read_whole_body(w, &body);
    if (body_len < 0) {
        if (body_len != GOHTTP_ETOOLARGE && body_len != GOHTTP_EIO)
            gohttp_write_header(w, 500);
        return;
    }

    /* The head in wire form, built with lengths so nothing is cut. */
    char *head = NULL;
    size_t head_len = 0;
    FILE *f = open_memstream(&head, &head_len);
    if (!f) {
        free(body);
        gohttp_write_header(w, 500);
        return;
    }
    fwrite(req->method, 1, req->method_len, f);
    fputc(' ', f);
    fwrite(req->url, 1, req->url_len, f);
    fputc(' ', f);
    fwrite(req->proto, 1, req->proto_len, f);
    fputs("\r\n", f);
    /* Go's parser moves Host out of the header list into its own field;
     * put it back where the client sent it. */
    if (req->host_len > 0) {
        fputs("Host: ", f);
        fwrite(req->host, 1, req->host_len, f);
        fputs("\r\n", f);
    }
    for (size_t i = 0; i < req->header_count; i++) {
        const gohttp_header *h = &req->headers[i];
        fwrite(h->name, 1, h->name_len, f);
        fputs(": ", f);
        fwrite(h->value, 1, h->value_len, f);
        fputs("\r\n", f);
    }
    fputs("\r\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(head);
        free(body);
        gohttp_write_header(w, 500);
        return;
    }

    static const char ctype[] = "application/octet-stream";
    char clen[32];
    int clen_len = snprintf(clen, sizeof clen, "%lld",
                            (long long)(head_len + (size_t)body_len));
    gohttp_set_header(w, "Content-Type", 12, ctype, sizeof ctype - 1);
    gohttp_set_header(w, "Content-Length", 14, clen, (size_t)clen_len);
    /* A failed write means the client left; nothing more to do. */
    if (gohttp_write(w, head, (int64_t)head_len) == (int64_t)head_len &&
        body_len > 0)
        gohttp_write(w, body, body_len);
    free(head);
    free(body);
}

int main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:0";
    return serve_one_route(addr, "/", echo, 5000);
}

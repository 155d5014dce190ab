/*
 * gohttplib.h - the 2016 gohttplib API, kept so that C programs written
 * against it compile and run unchanged (only the include line changes).
 *
 * Everything here runs on one lazily created default server with default
 * options (see gohttp.h). New code should use gohttp.h, which adds servers,
 * options, error codes, binary-safe lengths and request bodies in chunks.
 *
 * Differences from the seed, all of them fixes:
 *  - ResponseWriterPtr is 64 bits and generation-checked. The seed's 32-bit
 *    id was truncated and reused, so a late write could land in another
 *    request's response; here it fails with GOHTTP_ESTALE.
 *  - Errors are reported instead of crashing the process or vanishing: the
 *    void functions write the reason to gohttp_last_error() and to stderr.
 *  - ListenAndServe returns after Shutdown() (the seed never returned).
 */
#ifndef GOHTTPLIB_H
#define GOHTTPLIB_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The request as the seed's handlers see it. All five strings are
 * NUL-terminated and live in one allocation owned by the library, valid
 * until the handler returns. Headers is "Name: value\r\n" per header value
 * (canonical names, sorted). Body is the whole request body read up to
 * the default max_body_bytes (a larger body is answered 413 without
 * calling the handler); a body containing NUL bytes appears cut at the
 * first NUL to strlen users - use gohttp.h for binary bodies. */
typedef struct Request_ {
    const char *Method;
    const char *Host;
    const char *URL;
    const char *Body;
    const char *Headers;
} Request;

/* Identifies one response. Valid until the handler returns; afterwards
 * every call with it fails with GOHTTP_ESTALE. */
typedef uint64_t ResponseWriterPtr;

typedef void FuncPtr(ResponseWriterPtr w, Request *r);

/* Register fn for pattern (Go 1.22 ServeMux syntax) on the default server.
 * Errors (bad or duplicate pattern, after ListenAndServe) go to
 * gohttp_last_error() and stderr. pattern is copied. */
void HandleFunc(char *pattern, FuncPtr *fn);

/* Serve the default server on addr (":5000") and block until Shutdown().
 * A bind failure is printed to stderr (and left in gohttp_last_error())
 * and the call returns at once. The default server is released on return,
 * so a later HandleFunc starts a fresh one. */
void ListenAndServe(char *addr);

/* Write len bytes of body. Returns len, or a negative GOHTTP_E* code
 * (gohttp.h) on failure, e.g. GOHTTP_ESTALE after the handler returned. */
int ResponseWriter_Write(ResponseWriterPtr w, char *buf, int len);

/* Send the status line (100..999). Errors go to gohttp_last_error() and
 * stderr. */
void ResponseWriter_WriteHeader(ResponseWriterPtr w, int code);

/* Gracefully stop the default server (in-flight handlers get 5 seconds);
 * ListenAndServe then returns. Safe from inside a handler. */
void Shutdown(void);

/* Detail of the calling thread's last failure ("" if none). The same
 * buffer as gohttp_last_error() in gohttp.h. */
const char *gohttp_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* GOHTTPLIB_H */

/*
 * errors.c - error names and the thread-local last-error message.
 *
 * The message buffer is thread-local, not allocated: nothing to free, no
 * lock, and a failure on one thread can never overwrite the detail another
 * thread is about to print. Go sets it through gohttp__set_last_error; a
 * cgo callback runs on the C thread that made the call, so the message
 * lands on the thread that will read it.
 */
#include <string.h>

#include "gohttp_internal.h"

/* 512 bytes holds any OS bind error or mux conflict summary; longer
 * messages are truncated, never overflowed. */
#define GOHTTP_LAST_ERROR_CAP 512

static __thread char last_error[GOHTTP_LAST_ERROR_CAP];

/* Static names, one per code in gohttp.h. Never NULL. */
const char *gohttp_strerror(int code)
{
    switch (code) {
    case GOHTTP_OK:        return "success";
    case GOHTTP_EINVAL:    return "invalid argument";
    case GOHTTP_ESTALE:    return "stale handle";
    case GOHTTP_ENOMEM:    return "out of memory";
    case GOHTTP_EEXIST:    return "route conflicts with an existing route";
    case GOHTTP_EPATTERN:  return "invalid route pattern";
    case GOHTTP_EBIND:     return "listen failed";
    case GOHTTP_ESTATE:    return "call not valid in the current state";
    case GOHTTP_ETIMEDOUT: return "timed out";
    case GOHTTP_EBUSY:     return "server still running";
    case GOHTTP_EIO:       return "connection i/o failed";
    case GOHTTP_ETOOLARGE: return "request body too large";
    case GOHTTP_EPANIC:    return "internal panic recovered";
    case GOHTTP_ECLOSED:   return "server is shut down";
    case GOHTTP_EDEADLK:   return "call would wait on the calling handler";
    case GOHTTP_EBADREQ:   return "malformed request body";
    case GOHTTP_ELENGTH:   return "write past the declared Content-Length";
    default:               return "unknown error";
    }
}

/* The calling thread's buffer; "" until a failure is recorded. */
const char *gohttp_last_error(void)
{
    return last_error;
}

void gohttp__set_last_error(const char *msg, size_t len)
{
    if (msg == NULL)
        len = 0;
    if (len >= sizeof last_error)
        len = sizeof last_error - 1;
    if (len > 0)
        memcpy(last_error, msg, len);
    last_error[len] = '\0';
}

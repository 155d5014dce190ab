/*
 * gohttp_native.c - the CPython-API half of the gohttp extension, compiled
 * into the same module as the cffi bindings (gohttp_build.py appends this
 * file to its set_source code; only the limited API is used, as cffi
 * compiles that way).
 *
 * It holds what must not cost a Python call or a GIL release per field:
 *
 *   serve         the pull worker loop: takes the next exchange while
 *                 still holding the GIL, runs the Python dispatcher, ends
 *                 the exchange; the GIL is released only to wait for work
 *   environ       the PEP 3333 environ of the current request, in one pass
 *   request       every field of the current request as one tuple (the
 *                 seed API's Request)
 *   respond       status, headers and body in one library call
 *   header_problem  the library's header rules, checked without a crossing
 *
 * Lifetime rule: the request view (gohttp_request) lives in an arena that
 * the library frees when the exchange ends. Only the thread running the
 * exchange's dispatcher may read it, and only while the dispatcher runs:
 * the worker loop and the push gate publish (w, req) in the thread-locals
 * below for exactly that span, and environ/request refuse any other w with
 * StaleHandleError. Nothing here keeps a pointer into the arena.
 */

static __thread gohttp_handle gohttp_py_cur_w;
static __thread const gohttp_request *gohttp_py_cur_req;
/* Set while this thread runs a push-mode handler (a Go thread in the gate):
 * then a call into Go must not keep the GIL, see gohttp_py_respond. */
static __thread int gohttp_py_in_push;

/* StaleHandleError, handed over by gohttp_py_setup (strong reference for
 * the life of the module). */
static PyObject *gohttp_py_stale_error;

/* Publish the exchange this thread is about to dispatch; returns what was
 * published before so the caller can restore it. */
static void gohttp_py_enter(gohttp_handle w, const gohttp_request *req,
                            gohttp_handle *saved_w,
                            const gohttp_request **saved_req)
{
    *saved_w = gohttp_py_cur_w;
    *saved_req = gohttp_py_cur_req;
    gohttp_py_cur_w = w;
    gohttp_py_cur_req = req;
}

static void gohttp_py_leave(gohttp_handle saved_w,
                            const gohttp_request *saved_req)
{
    gohttp_py_cur_w = saved_w;
    gohttp_py_cur_req = saved_req;
}

/* The request view of w if this thread is dispatching w; else NULL with
 * StaleHandleError set. */
static const gohttp_request *gohttp_py_current(PyObject *w_obj)
{
    unsigned long long w = PyLong_AsUnsignedLongLong(w_obj);
    if (w == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (w == 0 || w != gohttp_py_cur_w || gohttp_py_cur_req == NULL) {
        PyErr_SetString(gohttp_py_stale_error ? gohttp_py_stale_error
                                              : PyExc_RuntimeError,
                        "Request used after its handler returned (or from "
                        "another thread): stale handle");
        return NULL;
    }
    return gohttp_py_cur_req;
}

static PyObject *gohttp_py_latin1(const char *s, size_t n)
{
    return PyUnicode_DecodeLatin1(s, (Py_ssize_t)n, NULL);
}

/* d[key] = value, stealing the reference to value; -1 on error. */
static int gohttp_py_put(PyObject *d, const char *key, PyObject *value)
{
    if (value == NULL)
        return -1;
    int rc = PyDict_SetItemString(d, key, value);
    Py_DECREF(value);
    return rc;
}

static int gohttp_py_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* PATH_INFO: the path of the request-target as the client sent it
 * (origin form "/p?q", absolute form "http://h/p?q", or "*"),
 * %-decoded to bytes and read as latin-1 (PEP 3333's native strings).
 * A '%' not followed by two hex digits stays as it is. */
static PyObject *gohttp_py_path_info(const char *url, size_t n)
{
    size_t end = 0;
    while (end < n && url[end] != '?')
        end++;
    size_t start = 0;
    if (end > 0 && url[0] != '/') {
        /* absolute form: skip "scheme://authority" */
        for (size_t i = 0; i + 2 < end; i++) {
            if (url[i] == ':' && url[i + 1] == '/' && url[i + 2] == '/') {
                size_t j = i + 3;
                while (j < end && url[j] != '/')
                    j++;
                if (j == end)
                    return PyUnicode_FromString("/");
                start = j;
                break;
            }
        }
    }
    size_t len = end - start;
    char small[256];
    char *buf = len <= sizeof small ? small : PyMem_Malloc(len);
    if (buf == NULL)
        return PyErr_NoMemory();
    size_t out = 0;
    for (size_t i = start; i < end; i++) {
        int hi, lo;
        if (url[i] == '%' && i + 2 < end &&
            (hi = gohttp_py_hex((unsigned char)url[i + 1])) >= 0 &&
            (lo = gohttp_py_hex((unsigned char)url[i + 2])) >= 0) {
            buf[out++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            buf[out++] = url[i];
        }
    }
    PyObject *r = gohttp_py_latin1(buf, out);
    if (buf != small)
        PyMem_Free(buf);
    return r;
}

/* A growable byte buffer on the stack first (header keys and joined
 * values), on the PyMem heap when it outgrows it. */
typedef struct gohttp_py_buf {
    char *p;
    size_t len, cap;
    char small[512];
} gohttp_py_buf;

static void gohttp_py_buf_init(gohttp_py_buf *b)
{
    b->p = b->small;
    b->len = 0;
    b->cap = sizeof b->small;
}

static int gohttp_py_buf_add(gohttp_py_buf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->len + n)
            cap *= 2;
        char *p = PyMem_Malloc(cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(p, b->p, b->len);
        if (b->p != b->small)
            PyMem_Free(b->p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static void gohttp_py_buf_free(gohttp_py_buf *b)
{
    if (b->p != b->small)
        PyMem_Free(b->p);
}

static int gohttp_py_ieq(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != b[i])
            return 0;
    }
    return 1;
}

/* HTTP_* entries (and CONTENT_TYPE) from the header array. The library
 * gives one entry per value, names in canonical form and sorted, so the
 * values of one name are adjacent. Rules (as gunicorn and wsgiref):
 * names with '_' are dropped (X_User would otherwise pose as X-User);
 * Content-Type becomes CONTENT_TYPE (first value), Content-Length and
 * Host are covered by CONTENT_LENGTH and HTTP_HOST; repeated values join
 * with "," (Cookie with "; "). */
static int gohttp_py_env_headers(PyObject *env, const gohttp_request *r)
{
    const gohttp_header *h = r->headers;
    size_t n = r->header_count;
    size_t i = 0;
    int rc = -1;
    gohttp_py_buf key, val;
    gohttp_py_buf_init(&key);
    gohttp_py_buf_init(&val);
    while (i < n) {
        size_t j = i + 1;
        while (j < n && h[j].name_len == h[i].name_len &&
               memcmp(h[j].name, h[i].name, h[i].name_len) == 0)
            j++;
        const char *name = h[i].name;
        size_t nl = h[i].name_len;
        if (memchr(name, '_', nl) != NULL || gohttp_py_ieq(name, nl, "content-length") ||
            gohttp_py_ieq(name, nl, "host")) {
            i = j;
            continue;
        }
        if (gohttp_py_ieq(name, nl, "content-type")) {
            if (gohttp_py_put(env, "CONTENT_TYPE",
                              gohttp_py_latin1(h[i].value, h[i].value_len)) < 0)
                goto out;
            i = j;
            continue;
        }
        key.len = 0;
        if (gohttp_py_buf_add(&key, "HTTP_", 5) < 0)
            goto out;
        for (size_t k = 0; k < nl; k++) {
            char c = name[k];
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            else if (c == '-')
                c = '_';
            if (gohttp_py_buf_add(&key, &c, 1) < 0)
                goto out;
        }
        PyObject *value;
        if (j == i + 1) {
            value = gohttp_py_latin1(h[i].value, h[i].value_len);
        } else {
            int cookie = gohttp_py_ieq(name, nl, "cookie");
            val.len = 0;
            for (size_t k = i; k < j; k++) {
                if (k > i && gohttp_py_buf_add(&val, cookie ? "; " : ",",
                                               cookie ? 2 : 1) < 0)
                    goto out;
                if (gohttp_py_buf_add(&val, h[k].value, h[k].value_len) < 0)
                    goto out;
            }
            value = gohttp_py_latin1(val.p, val.len);
        }
        if (value == NULL)
            goto out;
        PyObject *k = gohttp_py_latin1(key.p, key.len);
        if (k == NULL) {
            Py_DECREF(value);
            goto out;
        }
        int set = PyDict_SetItem(env, k, value);
        Py_DECREF(k);
        Py_DECREF(value);
        if (set < 0)
            goto out;
        i = j;
    }
    rc = 0;
out:
    gohttp_py_buf_free(&key);
    gohttp_py_buf_free(&val);
    return rc;
}

/* REMOTE_ADDR and REMOTE_PORT from "ip:port" / "[v6]:port". */
static int gohttp_py_env_remote(PyObject *env, const char *a, size_t n)
{
    size_t colon = n;
    for (size_t i = n; i > 0; i--) {
        if (a[i - 1] == ':') {
            colon = i - 1;
            break;
        }
    }
    size_t host_start = 0, host_end = colon == n ? n : colon;
    if (host_end >= 2 && a[0] == '[' && a[host_end - 1] == ']') {
        host_start = 1;
        host_end--;
    }
    if (gohttp_py_put(env, "REMOTE_ADDR",
                      gohttp_py_latin1(a + host_start, host_end - host_start)) < 0)
        return -1;
    size_t ps = colon == n ? n : colon + 1;
    return gohttp_py_put(env, "REMOTE_PORT", gohttp_py_latin1(a + ps, n - ps));
}

/* environ(w, base) -> a new dict: a copy of base (the server's constant
 * keys: wsgi.*, SERVER_NAME, SERVER_PORT, SCRIPT_NAME) plus every
 * per-request CGI key. wsgi.input is the caller's to add. */
static PyObject *gohttp_py_environ(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *w_obj, *base;
    if (!PyArg_ParseTuple(args, "OO!:environ", &w_obj, &PyDict_Type, &base))
        return NULL;
    const gohttp_request *r = gohttp_py_current(w_obj);
    if (r == NULL)
        return NULL;
    PyObject *env = PyDict_Copy(base);
    if (env == NULL)
        return NULL;
    if (gohttp_py_put(env, "REQUEST_METHOD", gohttp_py_latin1(r->method, r->method_len)) < 0 ||
        gohttp_py_put(env, "PATH_INFO", gohttp_py_path_info(r->url, r->url_len)) < 0 ||
        gohttp_py_put(env, "QUERY_STRING", gohttp_py_latin1(r->raw_query, r->raw_query_len)) < 0 ||
        gohttp_py_put(env, "SERVER_PROTOCOL", gohttp_py_latin1(r->proto, r->proto_len)) < 0 ||
        gohttp_py_env_remote(env, r->remote_addr, r->remote_addr_len) < 0)
        goto fail;
    if (r->content_length >= 0) {
        char num[24];
        int len = snprintf(num, sizeof num, "%lld", (long long)r->content_length);
        if (gohttp_py_put(env, "CONTENT_LENGTH", gohttp_py_latin1(num, (size_t)len)) < 0)
            goto fail;
    } else {
        /* Chunked body: Go de-chunks it and wsgi.input returns b"" at its
         * end, so a framework may read to EOF without a length. */
        if (PyDict_SetItemString(env, "wsgi.input_terminated", Py_True) < 0)
            goto fail;
    }
    if (r->host_len > 0 &&
        gohttp_py_put(env, "HTTP_HOST", gohttp_py_latin1(r->host, r->host_len)) < 0)
        goto fail;
    /* base's wsgi.url_scheme is the server's (or the application's own
     * choice); only a trusted proxy's X-Forwarded-Proto overrides it. */
    if ((r->forwarded & GOHTTP_FORWARDED_PROTO) &&
        gohttp_py_put(env, "wsgi.url_scheme", gohttp_py_latin1(r->scheme, r->scheme_len)) < 0)
        goto fail;
    if (gohttp_py_env_headers(env, r) < 0)
        goto fail;
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}

/* request(w) -> (method, url, path, query, host, proto, remote_addr,
 * content_length, headers, scheme) with headers a list of (name, value) pairs,
 * one per value. Strings are latin-1 except the decoded path (UTF-8 with
 * surrogateescape); content_length is -1 when unknown. */
static PyObject *gohttp_py_request(PyObject *self, PyObject *w_obj)
{
    (void)self;
    const gohttp_request *r = gohttp_py_current(w_obj);
    if (r == NULL)
        return NULL;
#ifdef GOHTTP_PLANT_NATIVE_LEAK
    /* Planted bug (audit self-test only): a scratch copy of the method that
     * is never freed; LSan (make asan python-test) and memcheck (make
     * valgrind stress-py) must report it with this function in the stack. */
    {
        char *volatile scratch = PyMem_Malloc(r->method_len + 1);
        if (scratch != NULL)
            memcpy(scratch, r->method, r->method_len);
    }
#endif
#ifdef GOHTTP_PLANT_NATIVE_UAF
    /* Planted bug (audit self-test only): a scratch copy of the method read
     * after it was freed; ASan (make asan python-test) must report a
     * heap-use-after-free in this function. */
    {
        char *scratch = PyMem_Malloc(r->method_len + 1);
        if (scratch != NULL) {
            memcpy(scratch, r->method, r->method_len);
            PyMem_Free(scratch);
            volatile char first = scratch[0];
            (void)first;
        }
    }
#endif
    PyObject *headers = PyList_New((Py_ssize_t)r->header_count);
    if (headers == NULL)
        return NULL;
    for (size_t i = 0; i < r->header_count; i++) {
        const gohttp_header *e = &r->headers[i];
        PyObject *pair = Py_BuildValue("(NN)", gohttp_py_latin1(e->name, e->name_len),
                                       gohttp_py_latin1(e->value, e->value_len));
        if (pair == NULL) {
            Py_DECREF(headers);
            return NULL;
        }
        PyList_SetItem(headers, (Py_ssize_t)i, pair);
    }
    return Py_BuildValue("(NNNNNNNLNN)",
                         gohttp_py_latin1(r->method, r->method_len),
                         gohttp_py_latin1(r->url, r->url_len),
                         PyUnicode_DecodeUTF8(r->path, (Py_ssize_t)r->path_len, "surrogateescape"),
                         gohttp_py_latin1(r->raw_query, r->raw_query_len),
                         gohttp_py_latin1(r->host, r->host_len),
                         gohttp_py_latin1(r->proto, r->proto_len),
                         gohttp_py_latin1(r->remote_addr, r->remote_addr_len),
                         (long long)(r->content_length >= 0 ? r->content_length : -1),
                         headers,
                         gohttp_py_latin1(r->scheme, r->scheme_len));
}

/* The bytes of a header name or value given as str (latin-1) or bytes.
 * *keep receives a new reference the caller releases after use (NULL when
 * the bytes live in obj itself). -1 with TypeError/ValueError set. */
static int gohttp_py_header_bytes(PyObject *obj, const char **p, Py_ssize_t *n,
                                  PyObject **keep, const char *what)
{
    *keep = NULL;
    if (PyBytes_Check(obj)) {
        char *s;
        if (PyBytes_AsStringAndSize(obj, &s, n) < 0)
            return -1;
        *p = s;
        return 0;
    }
    if (PyUnicode_Check(obj)) {
        Py_ssize_t chars = PyUnicode_GetLength(obj);
        const char *utf8 = PyUnicode_AsUTF8AndSize(obj, n);
        if (utf8 == NULL)
            return -1;
        if (*n == chars) { /* ASCII: the UTF-8 form is the latin-1 form */
            *p = utf8;
            return 0;
        }
        PyObject *enc = PyUnicode_AsLatin1String(obj);
        if (enc == NULL) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s %R is not latin-1", what, obj);
            return -1;
        }
        char *s;
        PyBytes_AsStringAndSize(enc, &s, n);
        *p = s;
        *keep = enc;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not %s", what,
                 Py_TYPE(obj) == NULL ? "?" : "another type");
    return -1;
}

/* Past this many body bytes respond() releases the GIL: net/http keeps a
 * response of up to 2 KiB in its own buffer until the handler returns, so
 * a smaller body never waits on the socket; a larger one may.
 *
 * In push mode it always releases it. There the threads waiting for the
 * GIL are Go threads inside a cgo call, each holding one of Go's Ps; a
 * call into Go with the GIL held may itself need a P, which those threads
 * give up only when Go's sysmon takes it from them (20 us to 10 ms later),
 * so every such call would stall all of them. In pull mode the threads
 * that want the GIL are parked Python workers that hold no P. */
#define GOHTTP_PY_NOWAIT_BODY 2048

/* respond(w, status, headers, body) -> the library's return value (body
 * bytes written, or a negative GOHTTP_E* code for the caller to raise).
 * headers is a list or tuple of (name, value) pairs of str or bytes; body
 * is bytes, bytearray or None. */
static PyObject *gohttp_py_respond(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long w;
    int status;
    PyObject *headers, *body;
    if (!PyArg_ParseTuple(args, "KiOO:respond", &w, &status, &headers, &body))
        return NULL;
    /* A tuple of our own: with the GIL released (large bodies) another
     * thread could change a list the caller passed, and free the strings
     * the header array points into; the tuple keeps them alive. */
    PyObject *seq = PyTuple_Check(headers) ? (Py_INCREF(headers), headers)
                                           : PySequence_Tuple(headers);
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(seq);
    gohttp_header small[16];
    PyObject *keep_small[32];
    gohttp_header *list = small;
    PyObject **keep = keep_small;
    PyObject *result = NULL, *body_copy = NULL;
    Py_ssize_t kept = 0;
    if (count > 16) {
        list = PyMem_Malloc(sizeof *list * (size_t)count);
        keep = PyMem_Malloc(sizeof *keep * (size_t)count * 2);
        if (list == NULL || keep == NULL) {
            PyErr_NoMemory();
            goto out;
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_Size(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "respond: each header must be a (name, value) tuple");
            goto out;
        }
        const char *p;
        Py_ssize_t n;
        if (gohttp_py_header_bytes(PyTuple_GetItem(item, 0), &p, &n, &keep[kept], "header name") < 0)
            goto out;
        if (keep[kept] != NULL)
            kept++;
        list[i].name = p;
        list[i].name_len = (size_t)n;
        if (gohttp_py_header_bytes(PyTuple_GetItem(item, 1), &p, &n, &keep[kept], "header value") < 0)
            goto out;
        if (keep[kept] != NULL)
            kept++;
        list[i].value = p;
        list[i].value_len = (size_t)n;
    }
    const char *data = NULL;
    Py_ssize_t len = 0;
    if (body != Py_None) {
        if (PyByteArray_Check(body)) {
            /* A bytearray may be resized by another thread while the GIL
             * is released: send a private copy. */
            body_copy = PyBytes_FromStringAndSize(PyByteArray_AsString(body),
                                                  PyByteArray_Size(body));
            if (body_copy == NULL)
                goto out;
            body = body_copy;
        }
        char *s;
        if (!PyBytes_Check(body)) {
            PyErr_SetString(PyExc_TypeError, "respond: body must be bytes, bytearray or None");
            goto out;
        }
        if (PyBytes_AsStringAndSize(body, &s, &len) < 0)
            goto out;
        data = s;
    }
    int64_t rc;
    if (len > GOHTTP_PY_NOWAIT_BODY || gohttp_py_in_push) {
        Py_BEGIN_ALLOW_THREADS
        rc = gohttp_respond(w, status, list, (size_t)count, data, len);
        Py_END_ALLOW_THREADS
    } else {
        rc = gohttp_respond(w, status, list, (size_t)count, data, len);
    }
    result = PyLong_FromLongLong(rc);
out:
    for (Py_ssize_t i = 0; i < kept; i++)
        Py_DECREF(keep[i]);
    if (list != small)
        PyMem_Free(list);
    if (keep != keep_small)
        PyMem_Free(keep);
    Py_XDECREF(body_copy);
    Py_DECREF(seq);
    return result;
}

/* The library's header rules (lib/validate.go: isToken, badValueByte,
 * isDigits for Content-Length), kept equal to them by
 * python/tests/test_native.py, which compares the two over every byte
 * value. A second Content-Length is the caller's to see (it depends on
 * what was set before). */
static int gohttp_py_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int gohttp_py_bad_value_byte(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int gohttp_py_is_content_length(const char *name, Py_ssize_t n)
{
    return gohttp_py_ieq(name, (size_t)n, "content-length");
}

/* A Content-Length value the library accepts: 1 to 18 ASCII digits. */
static int gohttp_py_length_ok(const char *v, Py_ssize_t n)
{
    if (n < 1 || n > 18)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

/* header_problem(name: bytes, value: bytes | None) -> None when the
 * library would accept the pair, else the reason (str). */
static PyObject *gohttp_py_header_problem(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *name_obj, *value_obj;
    char *name, *value = NULL;
    Py_ssize_t nl, vl = 0;
    if (!PyArg_ParseTuple(args, "SO:header_problem", &name_obj, &value_obj))
        return NULL;
    if (PyBytes_AsStringAndSize(name_obj, &name, &nl) < 0)
        return NULL;
    if (value_obj != Py_None && PyBytes_AsStringAndSize(value_obj, &value, &vl) < 0)
        return NULL;
    if (nl == 0)
        return PyUnicode_FromString("header name is empty");
    for (Py_ssize_t i = 0; i < nl; i++) {
        if (!gohttp_py_tchar((unsigned char)name[i]))
            return PyUnicode_FromFormat("header name is not an HTTP token (byte %zd)", i);
    }
    for (Py_ssize_t i = 0; i < vl; i++) {
        if (gohttp_py_bad_value_byte((unsigned char)value[i]))
            return PyUnicode_FromFormat("header value has a control byte at %zd", i);
    }
    if (value != NULL && gohttp_py_is_content_length(name, nl) && !gohttp_py_length_ok(value, vl))
        return PyUnicode_FromString("Content-Length is not 1 to 18 digits");
    Py_RETURN_NONE;
}

/* ---- the worker pool of one server (pull mode) -------------------------
 *
 * Every worker thread of a server runs gohttp_py_serve. One of them at a
 * time is the taker: it takes exchanges from the library, runs each one
 * and takes the next while it still holds the GIL, and waits in
 * gohttp_next (GIL released) when there is nothing to do. The others park
 * on a condition variable and never touch the GIL, so a loaded server
 * passes the GIL to no one and a waiting thread never forces a switch.
 *
 * A taker stuck in a slow handler must not stall the other requests: one
 * parked worker, the standby, wakes every GOHTTP_PY_WATCH_NS and takes the
 * taker role over when the taker has been inside one handler at least
 * that long while its thread hardly ran (it waits: sleep, I/O, a lock),
 * or inside one handler for GOHTTP_PY_SLOW_NS whatever it does. Judging
 * by the taker's CPU time, not by the wall clock alone, keeps a taker
 * that the OS merely preempted (a busy machine) from being replaced by a
 * thread that would only wait for the GIL it holds. The old taker parks
 * once its handler returns. The role is a scheduling rule, not a safety
 * one: two takers for a moment only cost a GIL hand-off.
 */

#define GOHTTP_PY_WATCH_NS 5000000LL /* 5 ms, CPython's switch interval */
#define GOHTTP_PY_SLOW_NS 50000000LL /* 50 ms */

typedef struct gohttp_py_pool {
    pthread_mutex_t mu;
    pthread_cond_t parked;         /* workers waiting to become the taker */
    uintptr_t standby;             /* the parked worker that watches, or 0 */
    int closed;                    /* the server stopped: everyone returns */
    long long watched_since;       /* busy_since the standby is watching  */
    long long watched_cpu;         /* the taker's CPU time when it began  */
    _Atomic uintptr_t taker;       /* the taker's id, 0 when none */
    _Atomic long long busy_since;  /* when the taker's handler began, 0 */
    _Atomic pid_t taker_tid;       /* the taker's kernel thread id */
} gohttp_py_pool;

static long long gohttp_py_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time of kernel thread tid, or -1 (e.g. it has exited). The clock id
 * is Linux's per-thread CPU clock of tid (what pthread_getcpuclockid
 * makes), which, unlike a pthread_t, is safe to use after the thread
 * exited: the call then fails. */
static long long gohttp_py_thread_cpu_ns(pid_t tid)
{
    clockid_t clock = (clockid_t)((~(unsigned)tid << 3) | 6);
    struct timespec ts;
    if (tid <= 0 || clock_gettime(clock, &ts) != 0)
        return -1;
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Whether the standby should take over from the taker now (mu held). */
static int gohttp_py_taker_stuck(gohttp_py_pool *p)
{
    long long since = atomic_load(&p->busy_since);
    if (since == 0)
        return 0;
    long long cpu = gohttp_py_thread_cpu_ns(atomic_load(&p->taker_tid));
    if (since != p->watched_since) {
        /* A handler the standby has not seen yet: start watching it. */
        p->watched_since = since;
        p->watched_cpu = cpu;
        return 0;
    }
    long long busy = gohttp_py_now_ns() - since;
    if (busy >= GOHTTP_PY_SLOW_NS)
        return 1;
    return busy >= GOHTTP_PY_WATCH_NS && cpu >= 0 && p->watched_cpu >= 0 &&
           cpu - p->watched_cpu < GOHTTP_PY_WATCH_NS / 4;
}

static const char gohttp_py_pool_name[] = "gohttp.pool";

static void gohttp_py_pool_free(PyObject *capsule)
{
    gohttp_py_pool *p = PyCapsule_GetPointer(capsule, gohttp_py_pool_name);
    if (p == NULL)
        return;
    pthread_cond_destroy(&p->parked);
    pthread_mutex_destroy(&p->mu);
    PyMem_RawFree(p);
}

/* pool() -> a new worker pool (a capsule; freed with its last reference,
 * which the server and each of its workers hold). */
static PyObject *gohttp_py_pool_new(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    /* Owner: the capsule returned; freed by gohttp_py_pool_free. */
    gohttp_py_pool *p = PyMem_RawCalloc(1, sizeof *p);
    if (p == NULL)
        return PyErr_NoMemory();
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->parked, &attr);
    pthread_condattr_destroy(&attr);
    PyObject *c = PyCapsule_New(p, gohttp_py_pool_name, gohttp_py_pool_free);
    if (c == NULL) {
        pthread_cond_destroy(&p->parked);
        pthread_mutex_destroy(&p->mu);
        PyMem_RawFree(p);
    }
    return c;
}

/* Park until this worker (me) is the taker; 0, or 1 once the pool closed.
 * Called without the GIL. */
static int gohttp_py_become_taker(gohttp_py_pool *p, uintptr_t me)
{
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->closed) {
            pthread_mutex_unlock(&p->mu);
            return 1;
        }
        uintptr_t none = 0;
        if (atomic_compare_exchange_strong(&p->taker, &none, me) ||
            none == me)
            break;
        if (p->standby == 0) {
            p->standby = me;
            if (gohttp_py_taker_stuck(p)) {
                /* The taker waits inside a handler: take over. */
                atomic_store(&p->taker, me);
                atomic_store(&p->busy_since, 0);
                p->standby = 0;
                pthread_cond_signal(&p->parked); /* a new standby */
                break;
            }
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += GOHTTP_PY_WATCH_NS;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->parked, &p->mu, &until);
            p->standby = 0;
        } else {
            pthread_cond_wait(&p->parked, &p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Give the taker role up (me was the taker) and wake a parked worker to
 * take it; close marks the pool closed for every worker. */
static void gohttp_py_leave_taker(gohttp_py_pool *p, uintptr_t me, int close)
{
    pthread_mutex_lock(&p->mu);
    uintptr_t expected = me;
    atomic_compare_exchange_strong(&p->taker, &expected, 0);
    if (close) {
        p->closed = 1;
        pthread_cond_broadcast(&p->parked);
    } else {
        pthread_cond_signal(&p->parked);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Answer 500 on w in C: the dispatcher itself failed (it never raises for
 * a handler's error, so this is a MemoryError or similar). */
static void gohttp_py_internal_error(gohttp_handle w)
{
    static const gohttp_header type = {"Content-Type", 12, "text/plain; charset=utf-8", 25};
    if (gohttp_respond(w, 500, &type, 1, "Internal Server Error\n", 22) == GOHTTP_ESTATE)
        gohttp_abort(w);
}

/* Run exchange ex: dispatch(w, route) with (w, req) published as this
 * thread's current exchange, then end it. GIL held. */
static void gohttp_py_run(gohttp_exchange *ex, PyObject *dispatch)
{
    gohttp_handle saved_w;
    const gohttp_request *saved_req;
    gohttp_py_enter(ex->w, ex->req, &saved_w, &saved_req);
    PyObject *w_obj = PyLong_FromUnsignedLongLong(ex->w);
    PyObject *route = PyLong_FromVoidPtr(ex->userdata);
    PyObject *got = NULL;
    if (w_obj != NULL && route != NULL)
        got = PyObject_CallFunctionObjArgs(dispatch, w_obj, route, NULL);
    gohttp_py_leave(saved_w, saved_req);
    Py_XDECREF(w_obj);
    Py_XDECREF(route);
    if (got == NULL) {
        PyErr_WriteUnraisable(dispatch);
        gohttp_py_internal_error(ex->w);
    }
    Py_XDECREF(got);
    /* With the GIL held: done only waits for calls other threads are
     * making on w at this moment, and those need no GIL to finish. */
    gohttp_done(ex->w);
}

/* serve(server, dispatch, pool, timeout_ms) -> None when this worker, as
 * the taker, got no request within timeout_ms (so the caller can look at
 * its stop flag), else the code that ended the loop (GOHTTP_ECLOSED once
 * the server shuts down). Runs exchanges on the calling thread:
 * dispatch(w, route) for each, route being the route's integer userdata. */
static PyObject *gohttp_py_serve(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long s;
    PyObject *dispatch, *capsule;
    long long timeout_ms;
    if (!PyArg_ParseTuple(args, "KOOL:serve", &s, &dispatch, &capsule, &timeout_ms))
        return NULL;
    gohttp_py_pool *p = PyCapsule_GetPointer(capsule, gohttp_py_pool_name);
    if (p == NULL)
        return NULL;
    gohttp_exchange ex;
    uintptr_t me = (uintptr_t)&ex; /* unique among live workers */
    int rc, closed;
    long long got = 0;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        closed = gohttp_py_become_taker(p, me);
        if (!closed)
            atomic_store(&p->taker_tid, (pid_t)syscall(SYS_gettid));
        rc = closed ? GOHTTP_ECLOSED : gohttp_next(s, timeout_ms, &ex);
        got = gohttp_py_now_ns();
        Py_END_ALLOW_THREADS
        if (rc == GOHTTP_OK) /* the wait for the GIL with an exchange in hand */
            gohttp_note_host_wait(gohttp_py_now_ns() - got);
        /* Take and run exchanges while holding the GIL, until the queue
         * is empty or the role was taken over. */
        while (rc == GOHTTP_OK) {
            atomic_store(&p->busy_since, gohttp_py_now_ns());
            gohttp_py_run(&ex, dispatch);
            atomic_store(&p->busy_since, 0);
            if (atomic_load(&p->taker) != me)
                break; /* a standby took over: park */
            rc = gohttp_next(s, 0, &ex);
        }
        if (rc == GOHTTP_OK)
            continue; /* lost the role: park again */
        if (rc == GOHTTP_ETIMEDOUT) {
            if (atomic_load(&p->taker) == me && timeout_ms != 0) {
                /* Waited timeout_ms for nothing: let the caller look at
                 * its stop flag; the role stays ours. */
                Py_RETURN_NONE;
            }
            continue; /* the queue ran empty: wait for the next one */
        }
        /* Closed or failed: every worker of the pool returns. */
        Py_BEGIN_ALLOW_THREADS
        gohttp_py_leave_taker(p, me, 1);
        Py_END_ALLOW_THREADS
        return PyLong_FromLong(rc);
    }
}

/* setup(StaleHandleError): the exception class environ/request raise. */
static PyObject *gohttp_py_setup_native(PyObject *self, PyObject *exc)
{
    (void)self;
    PyObject *old = gohttp_py_stale_error;
    Py_INCREF(exc);
    gohttp_py_stale_error = exc;
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyMethodDef gohttp_py_methods[] = {
    {"serve", gohttp_py_serve, METH_VARARGS, "pull worker loop"},
    {"pool", gohttp_py_pool_new, METH_NOARGS, "a worker pool for serve"},
    {"environ", gohttp_py_environ, METH_VARARGS, "PEP 3333 environ of the current request"},
    {"request", gohttp_py_request, METH_O, "fields of the current request"},
    {"respond", gohttp_py_respond, METH_VARARGS, "status, headers and body in one call"},
    {"header_problem", gohttp_py_header_problem, METH_VARARGS, "the library's header rules"},
    {"setup", gohttp_py_setup_native, METH_O, "set the stale-handle exception"},
    {NULL, NULL, 0, NULL},
};

/* Called once through cffi (which released the GIL): adds the functions
 * above to this extension module. 0 on success. */
int gohttp_py_install(void)
{
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = -1;
    PyObject *name = PyUnicode_FromString("gohttp._gohttp_cffi");
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    PyObject *mod = name ? PyDict_GetItem(modules, name) : NULL; /* borrowed */
    if (mod != NULL && PyModule_AddFunctions(mod, gohttp_py_methods) == 0)
        rc = 0;
    if (rc != 0)
        PyErr_Print();
    Py_XDECREF(name);
    PyGILState_Release(g);
    return rc;
}

"""The binding against shim/gohttp.h, and the option defaults against every
document that states them.

The extension's cdef is generated from gohttp.h (python/gohttp_build.py);
these tests check that the generation kept every function and struct field,
and that the defaults written in gohttp.h's comments and in
python/README.md are the GOHTTP_DEFAULT_* values the library applies.
"""

import os
import re
import subprocess

from gohttp._gohttp_cffi import ffi, lib

from conftest import REPO

HEADER = os.path.join(REPO, "shim", "gohttp.h")
README = os.path.join(REPO, "python", "README.md")

FIELDS = ("read_header_timeout_ms", "idle_timeout_ms", "write_timeout_ms",
          "max_header_bytes", "max_body_bytes", "max_handlers",
          "queue_timeout_ms", "limit_request_line", "limit_request_fields",
          "limit_request_field_size", "body_read_timeout_ms",
          "send_timeout_ms", "max_connections")
# Every field with a GOHTTP_DEFAULT_* (the README's list covers FIELDS,
# the options Server takes by name).
HEADER_FIELDS = FIELDS + ("reuse_port",)


def header_text():
    with open(HEADER) as f:
        return f.read()


def header_functions():
    """The functions gohttp.h declares, as the C compiler parses them.
    The compiler runs without the sanitizer runtime a flavor preloads into
    this process (LeakSanitizer would fail the shell and gcc on their own
    leaks)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "PYTHONMALLOC")}
    out = subprocess.check_output(
        [os.path.join(REPO, "scripts", "header_functions.sh"),
         os.environ.get("CC", "gcc"), HEADER], text=True, env=env)
    return out.split()


def default(field):
    return getattr(lib, "GOHTTP_DEFAULT_" + field.upper())


def test_every_header_function_is_bound():
    names = header_functions()
    assert len(names) >= 20, names
    missing = [n for n in names if not hasattr(lib, n)]
    assert missing == []


def test_every_struct_field_is_bound_with_its_type():
    """Each field of the header's structs, with the C type spelled there,
    is a field of the same type in the binding."""
    text = re.sub(r"/\*.*?\*/", " ", header_text(), flags=re.S)
    structs = re.findall(r"typedef struct (\w+) \{(.*?)\} \1;", text, flags=re.S)
    assert len(structs) >= 5, [s[0] for s in structs]
    checked = 0
    for name, body in structs:
        fields = dict(ffi.typeof(name).fields)
        for decl in body.split(";"):
            m = re.match(r"\s*(.*?)\s*\b(\w+)\s*$", decl.replace("\n", " "))
            if not m:
                continue
            ctype, field = m.group(1), m.group(2)
            assert field in fields, (name, field)
            assert fields[field].type is ffi.typeof(ctype), (name, field, ctype)
            checked += 1
    assert checked >= 30


def test_options_init_fills_the_header_defaults():
    o = ffi.new("gohttp_options *")
    lib.gohttp_options_init(o)
    assert {f: getattr(o, f) for f in HEADER_FIELDS} == \
        {f: default(f) for f in HEADER_FIELDS}


def parse_size(number, unit):
    return int(number) << {"": 0, "KiB": 10, "MiB": 20, "GiB": 30}[unit or ""]


def test_header_comments_state_the_defaults():
    """'default N' / 'default N MiB' in each gohttp_options field comment."""
    body = re.search(r"typedef struct gohttp_options \{(.*?)\} gohttp_options;",
                     header_text(), flags=re.S).group(1)
    stated = {}
    for field, comment in re.findall(r"(\w+);\s*/\*(.*?)\*/", body, flags=re.S):
        comment = " ".join(comment.split())
        m = re.search(r"default (\d+)(?: (KiB|MiB|GiB))?", comment)
        if m and field in HEADER_FIELDS:
            stated[field] = parse_size(m.group(1), m.group(2))
    assert stated == {f: default(f) for f in HEADER_FIELDS}


def test_python_readme_states_the_defaults():
    """The README's "`name` value" list of library defaults (seconds for
    timeouts, 'none' for 0)."""
    with open(README) as f:
        text = " ".join(f.read().split())
    sentence = re.search(r"`None` means the library default \((.*?)\)\.", text)
    assert sentence, "README sentence on the library defaults not found"
    stated = {}
    for name, value in re.findall(r"`(\w+)` ([^,]+)", sentence.group(1)):
        if name + "_ms" in FIELDS:
            field = name + "_ms"
            stated[field] = 0 if value == "none" else int(value.rstrip(" s")) * 1000
        elif name in FIELDS:
            m = re.fullmatch(r"(\d+)(?: (KiB|MiB|GiB))?", value)
            stated[name] = parse_size(m.group(1), m.group(2))
    assert stated == {f: default(f) for f in FIELDS}

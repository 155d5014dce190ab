#!/usr/bin/env python3
"""safety_check.py - check SAFETY.md against the code (`make safety-check`).

1. Every citation in SAFETY.md names a file that exists and functions that
   exist in it. A citation is a code span `FILE: NAME[, NAME...]`, e.g.
   `shim/arena.c: gohttp__arena_new`, `lib/dispatch.go: (*exchange).end`,
   `python/gohttp/_server.py: Server.close`. NAME is
     C (.c, .h)   a function definition `NAME(...) {`, or a `#define NAME`;
     Go           `func NAME(`, `(*T).NAME` for `func (r *T) NAME(`,
                  `T.NAME` for `func (r T) NAME(`;
     Python       a def or class by its qualified name (`Class.method`,
                  `outer.inner`); in a .py file that carries C source in a
                  string (python/gohttp_build.py) also that C's functions.
   SAFETY.md cites no line numbers: `FILE:123` and a bare `:123` after a
   space or parenthesis are errors.
2. Every allocation or handle site in the boundary code (see SCANNED and
   the SITE_* patterns below) lies in a function that a table row of
   SAFETY.md cites (a line starting with `|`), or is listed as an
   exception: a row of the SAFETY.md table under the heading that contains
   "safety-check exceptions", `| `FILE: FUNCTION` | call | reason |`, with
   a non-empty reason. An exception that matches no site is an error too.

Prints every problem, one a line, as `FILE: FUNCTION: what`, and exits 1;
with none prints one summary line and exits 0.

  scripts/safety_check.py [--root DIR]   check the tree at DIR (default: the
                                         repository holding this script)
  scripts/safety_check.py --selftest     plant defects in a copy of the tree
                                         and require each one to be reported
  scripts/safety_check.py --and-selftest the check, then (if it passed) the
                                         self-test: what `make safety-check` runs
  scripts/safety_check.py --where FILE:LINE...   print the function that
                                         encloses each line (for writing rows)

Plain Python 3, no dependencies.
"""

import ast
import difflib
import os
import re
import shutil
import sys
import tempfile

SAFETY = "SAFETY.md"

# --- what is scanned ---------------------------------------------------------

# Directories and files of the boundary code. Test code is not scanned:
# _test.go files, files whose //go:build line requires gohttp_test or a
# plant_* tag, and anything under a tests/ directory.
SCANNED = ["shim", "proxy", "lib", "python/gohttp",
           "python/gohttp_native.c", "python/gohttp_build.py"]

C_ALLOC = r"malloc|calloc|realloc|strdup|strndup|free"
C_PYMEM = r"PyMem_\w+|PyObject_(?:Malloc|Calloc|Realloc|Free)|PyCapsule_New"
# proxy/proxy.h (the table), shim/gohttp_internal.h (the library's typed
# tables, arena, doorbell, request begin/end), and the public calls that make
# or end a server or a pulled exchange.
C_HANDLE = (r"gohttp_proxy_(?:new|destroy|ref|deref|release|free)"
            r"|GOHTTP_PROXY_CALLOC"
            r"|gohttp__(?:exchange|server)_(?:ref|deref|acquire|release|free)"
            r"|gohttp__request_(?:begin|end)|gohttp__arena_(?:new|free)"
            r"|gohttp__bell_(?:new|destroy)"
            r"|gohttp_(?:server_new|free|next|done)")
SITE_C = re.compile(r"\b(" + C_ALLOC + "|" + C_PYMEM + "|" + C_HANDLE + r")\s*\(")
SITE_GO = re.compile(
    r"\b(C\.(?:CString|CBytes|malloc|calloc|realloc|free"
    r"|gohttp__(?:exchange|server)_(?:ref|deref|acquire|release|free)"
    r"|gohttp__request_(?:begin|end)|gohttp__arena_(?:new|free)"
    r"|gohttp__bell_(?:new|destroy))"
    r"|cgo\.NewHandle|exchangeTokens\.(?:put|drop))\s*\("
    r"|(\.Delete)\(\)")  # a cgo.Handle's Delete (no argument)
# Python: attribute calls on ffi / lib, and module-level aliases of them
# (`_from_buffer = ffi.from_buffer` makes `_from_buffer(` a site too).
PY_FFI = {"new", "new_handle", "from_buffer", "gc"}
PY_LIB = {"gohttp_server_new", "gohttp_free", "gohttp_next", "gohttp_done"}

SRC_EXT = (".c", ".h", ".go", ".py")


def rel(root, path):
    return os.path.relpath(path, root).replace(os.sep, "/")


def scanned_files(root):
    out = []
    for entry in SCANNED:
        p = os.path.join(root, entry)
        if os.path.isfile(p):
            out.append(p)
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in ("tests", "testdata", "__pycache__", "build"))
            for f in sorted(filenames):
                if f.endswith(SRC_EXT) and not f.endswith("_test.go"):
                    out.append(os.path.join(dirpath, f))
    return [f for f in out if not test_only(f)]


BUILD_LINE = re.compile(r"^//go:build (.*)$", re.M)


def test_only(path):
    if not path.endswith((".go", ".c")):
        return False
    with open(path, encoding="utf-8") as f:
        head = f.read(2000)
    m = BUILD_LINE.search(head)
    if not m:
        return False
    expr = m.group(1)
    return bool(re.search(r"(?<!!)\b(gohttp_test|plant_\w+)\b", expr))


# --- source blanking: comments and literals become spaces ------------------

# A comment, or a string / char literal (Go: also a raw `string`).
_LEXEMES_C = re.compile(r'//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?', re.S)
_LEXEMES_GO = re.compile(_LEXEMES_C.pattern + r"|`[^`]*`?", re.S)
_NOT_NEWLINE = re.compile(r"[^\n]")


def blank_c_like(text, go=False):
    """Comments and string/char literals replaced by spaces (newlines kept),
    so offsets and line numbers stay those of the file."""
    lex = _LEXEMES_GO if go else _LEXEMES_C
    return lex.sub(lambda m: _NOT_NEWLINE.sub(" ", m.group(0)), text)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


# --- C ----------------------------------------------------------------------

IDENT_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
C_NOT_NAMES = {"__attribute__", "if", "while", "for", "switch", "return", "sizeof"}


def c_functions(text, base_line=0):
    """[(name, first_line, last_line)] of the function definitions in C
    source `text`, plus {#define names}."""
    code = blank_c_like(text)
    # Preprocessor lines (with continuations) take no part in brace depth.
    lines = code.split("\n")
    k = 0
    defines = set()
    while k < len(lines):
        if lines[k].lstrip().startswith("#"):
            m = re.match(r"\s*#\s*define\s+(\w+)", lines[k])
            if m:
                defines.add(m.group(1))
            while True:
                cont = lines[k].rstrip().endswith("\\")
                lines[k] = " " * len(lines[k])
                if not cont or k + 1 >= len(lines):
                    break
                k += 1
        k += 1
    code = "\n".join(lines)
    funcs = []
    depth = 0
    seg_start = 0      # start of the current top-level declaration
    cur = None         # (name, start_line) of the function being read
    for i, ch in enumerate(code):
        if ch == "{":
            if depth == 0:
                cur = None
                header = code[seg_start:i].rstrip()
                if header.endswith(")") and not has_top_level_eq(header):
                    name = last_top_level_call(header)
                    if name:
                        cur = (name, line_of(code, seg_start + len(header) - len(header.lstrip())))
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                if cur:
                    funcs.append((cur[0], cur[1] + base_line, line_of(code, i) + base_line))
                cur = None
                seg_start = i + 1
        elif ch == ";" and depth == 0:
            seg_start = i + 1
    return funcs, defines


def has_top_level_eq(header):
    d = 0
    for ch in header:
        if ch == "(":
            d += 1
        elif ch == ")":
            d -= 1
        elif ch == "=" and d == 0:
            return True
    return False


def last_top_level_call(header):
    d = 0
    name = None
    for m in re.finditer(r"[()]|\b[A-Za-z_]\w*\s*(?=\()", header):
        tok = m.group(0)
        if tok == "(":
            d += 1
        elif tok == ")":
            d -= 1
        elif d == 0 and tok.strip() not in C_NOT_NAMES:
            name = tok.strip()
    if name == "START_TEST":  # a Check test: START_TEST(test_name)
        m = re.search(r"START_TEST\s*\(\s*(\w+)", header)
        name = m.group(1) if m else name
    return name


def c_macro_lines(code, base_line=0):
    """{line: NAME} for every line of a `#define NAME` (with continuations)."""
    out = {}
    lines = code.split("\n")
    k = 0
    while k < len(lines):
        m = re.match(r"\s*#\s*define\s+(\w+)", lines[k])
        if m:
            while True:
                out[k + 1 + base_line] = m.group(1)
                if not lines[k].rstrip().endswith("\\") or k + 1 >= len(lines):
                    break
                k += 1
        k += 1
    return out


def plant_lines(code, base_line=0):
    """Lines inside `#ifdef GOHTTP_PLANT_...` (or `#if defined(GOHTTP_PLANT_`)
    blocks: planted bugs, compiled only into the audit's self-test builds
    (mk/flavors.mk adds their -D flags to no other build)."""
    inside, depth = set(), 0
    for i, line in enumerate(code.split("\n"), 1):
        word = line.strip()
        if depth:
            inside.add(i + base_line)
            if re.match(r"#\s*if", word):
                depth += 1
            elif re.match(r"#\s*endif", word):
                depth -= 1
        elif re.match(r"#\s*if(?:def\s+|\s+defined\s*\(?\s*)GOHTTP_PLANT_", word):
            depth = 1
            inside.add(i + base_line)
    return inside


def c_sites(text, funcs, base_line=0):
    code = blank_c_like(text)
    macros = c_macro_lines(code, base_line)
    planted = plant_lines(code, base_line)
    sites = []
    for m in SITE_C.finditer(code):
        line = line_of(code, m.start()) + base_line
        if line in planted:
            continue  # a self-test's planted bug, never in a shipped build
        fn = enclosing(funcs, line) or macros.get(line)
        if fn is None:
            continue  # a declaration or a definition's own name, not a call
        if fn == m.group(1) and line == def_line(funcs, fn):
            continue
        sites.append((line, fn, m.group(1)))
    return sorted(sites)


def enclosing(funcs, line):
    best = None
    for name, a, b in funcs:
        if a <= line <= b and (best is None or a >= best[1]):
            best = (name, a)
    return best[0] if best else None


def def_line(funcs, name):
    for n, a, _ in funcs:
        if n == name:
            return a
    return None


# --- Go ---------------------------------------------------------------------

GO_FUNC = re.compile(r"^func\s+(?:\(\s*\w*\s*(\*?)\s*(\w+)(?:\[[^\]]*\])?\s*\)\s*)?(\w+)", re.M)


def go_functions(text):
    code = blank_c_like(text, go=True)
    funcs = []
    starts = [(m.start(), m) for m in GO_FUNC.finditer(code)]
    for idx, (pos, m) in enumerate(starts):
        star, recv, name = m.group(1), m.group(2), m.group(3)
        full = name if not recv else ("(*%s).%s" % (recv, name) if star else "%s.%s" % (recv, name))
        a = line_of(code, pos)
        end = re.compile(r"^}", re.M).search(code, pos)
        # A one-line func ends on its own line.
        first_line_end = code.find("\n", pos)
        one_line = code[pos:first_line_end]
        if one_line.count("{") and one_line.count("{") == one_line.count("}"):
            b = a
        else:
            b = line_of(code, end.start()) if end else line_of(code, len(code))
        funcs.append((full, a, b))
    return funcs


def go_sites(text, funcs):
    code = blank_c_like(text, go=True)
    sites = []
    for m in SITE_GO.finditer(code):
        line = line_of(code, m.start())
        call = m.group(1) or m.group(2) + "()"
        sites.append((line, enclosing(funcs, line) or "<file scope>", call))
    return sorted(sites)


# --- Python -----------------------------------------------------------------

def py_functions(text):
    """[(qualname, first, last)] of every def and class; C functions found in
    multi-line string constants are added under their C names."""
    tree = ast.parse(text)
    funcs = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                q = prefix + child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                funcs.append((q, first, child.end_lineno))
                walk(child, q + ".")
            else:
                walk(child, prefix)
    walk(tree, "")
    embedded = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.count("\n") > 3:
            if "{" in node.value and "(" in node.value:
                # The constant starts after the opening quotes on its first line.
                cf, _ = c_functions(node.value, base_line=node.lineno - 1)
                embedded.append((node, cf))
    return tree, funcs, embedded


def py_sites(text, tree, funcs, embedded):
    aliases = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute):
            v = node.value
            if isinstance(v.value, ast.Name) and (
                    (v.value.id == "ffi" and v.attr in PY_FFI) or (v.value.id == "lib" and v.attr in PY_LIB)):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        aliases[t.id] = "%s.%s" % (v.value.id, v.attr)
    sites = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        call = None
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if (f.value.id == "ffi" and f.attr in PY_FFI) or (f.value.id == "lib" and f.attr in PY_LIB):
                call = "%s.%s" % (f.value.id, f.attr)
        elif isinstance(f, ast.Name) and f.id in aliases:
            call = "%s (%s)" % (f.id, aliases[f.id])
        if call:
            sites.append((node.lineno, enclosing(funcs, node.lineno) or "<module>", call))
    for node, cf in embedded:
        for line, fn, call in c_sites(node.value, cf, base_line=node.lineno - 1):
            sites.append((line, fn, call))
    return sorted(sites)


# --- one file: its names and its sites --------------------------------------

_PARSED = {}


class Source:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        self.path = path
        key = (os.path.splitext(path)[1], self.text)
        if key in _PARSED:  # the self-test checks copies of the same files
            self.__dict__.update(_PARSED[key])
            return
        self._parse(path)
        _PARSED[key] = {k: v for k, v in self.__dict__.items() if k not in ("path", "text")}

    def _parse(self, path):
        self.defines = set()
        self.embedded = []
        if path.endswith(".go"):
            self.funcs = go_functions(self.text)
        elif path.endswith((".c", ".h")):
            self.funcs, self.defines = c_functions(self.text)
        elif path.endswith(".py"):
            self.tree, self.funcs, self.embedded = py_functions(self.text)
            for _, cf in self.embedded:
                self.funcs = self.funcs + cf
        else:
            self.funcs = []

    def names(self):
        return {f[0] for f in self.funcs} | self.defines

    def sites(self):
        key = (os.path.splitext(self.path)[1], self.text)
        cached = _PARSED.get(key, {}).get("_sites")
        if cached is None:
            cached = self._find_sites()
            _PARSED.setdefault(key, {})["_sites"] = cached
        return cached

    def _find_sites(self):
        if self.path.endswith(".go"):
            return go_sites(self.text, self.funcs)
        if self.path.endswith((".c", ".h")):
            return c_sites(self.text, self.funcs)
        if self.path.endswith(".py"):
            return py_sites(self.text, self.tree, [f for f in self.funcs], self.embedded)
        return []


# --- SAFETY.md --------------------------------------------------------------

CITE = re.compile(r"`([A-Za-z0-9_./-]+\.(?:c|h|go|py)): ([^`]+)`")
NAME = re.compile(r"^(?:\(\*\w+\)\.\w+|[A-Za-z_][\w.]*)$")
LINE_CITE = re.compile(r"[A-Za-z0-9_./-]+\.(?:c|h|go|py|mk|sh|md):\d+|(?:^|[\s(,;/])(:\d+)\b")


class Citation:
    def __init__(self, lineno, path, name, in_row, exception=None):
        self.lineno, self.path, self.name, self.in_row = lineno, path, name, in_row
        self.exception = exception  # (call, reason) for an exception row


def parse_safety(text):
    cites, errors = [], []
    in_exceptions = False
    for n, line in enumerate(text.split("\n"), 1):
        if line.startswith("#"):
            in_exceptions = "safety-check exceptions" in line
        for m in LINE_CITE.finditer(line):
            errors.append("%s:%d: cites a line number (%s): name the function instead, `FILE: FUNCTION`"
                          % (SAFETY, n, m.group(0).strip()))
        in_row = line.startswith("|")
        exc_call = None
        if in_exceptions and in_row and not re.match(r"^\|\s*-", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and CITE.fullmatch(cells[0]):
                call, reason = cells[1].strip("` "), cells[2]
                if not call or not reason:
                    errors.append("%s:%d: an exception row needs the call and a reason" % (SAFETY, n))
                exc_call = (call, reason)
        for m in CITE.finditer(line):
            path = m.group(1)
            for name in (x.strip() for x in m.group(2).split(",")):
                if not NAME.match(name):
                    errors.append("%s:%d: `%s: %s`: not a function name (C `name`, Go `name` / `(*T).name` / "
                                  "`T.name`, Python `Class.method`)" % (SAFETY, n, path, name))
                    continue
                cites.append(Citation(n, path, name, in_row, exc_call))
    return cites, errors


# --- the check --------------------------------------------------------------

def check(root):
    problems = []
    with open(os.path.join(root, SAFETY), encoding="utf-8") as f:
        text = f.read()
    cites, errors = parse_safety(text)
    problems += errors
    # make audit rewrites the text between these (scripts/safety_audit_section.py):
    # a missing marker would fail only at the end of a whole audit.
    begins = [l for l in text.split("\n") if l.startswith("<!-- audit:begin")]
    ends = [l for l in text.split("\n") if l.strip() == "<!-- audit:end -->"]
    if len(begins) != 1 or len(ends) != 1 or text.index(begins[0]) > text.index(ends[0]):
        problems.append("%s: section 6 needs one '<!-- audit:begin ...' line and, after it, one "
                        "'<!-- audit:end -->' line (make audit rewrites what is between)" % SAFETY)
    sources = {}

    def source(relpath):
        if relpath not in sources:
            p = os.path.join(root, relpath)
            sources[relpath] = Source(p) if os.path.isfile(p) else None
        return sources[relpath]

    for c in cites:
        s = source(c.path)
        if s is None:
            problems.append("%s: %s: no such file (%s:%d)" % (c.path, c.name, SAFETY, c.lineno))
            continue
        names = s.names()
        if c.name not in names:
            near = difflib.get_close_matches(c.name, sorted(names), n=3, cutoff=0.6)
            problems.append("%s: %s: no such function (%s:%d)%s" % (
                c.path, c.name, SAFETY, c.lineno,
                "; did you mean " + ", ".join(near) if near else ""))

    cited = {(c.path, c.name) for c in cites if c.in_row and not c.exception}
    exceptions = {}
    for c in cites:
        if c.exception:
            exceptions.setdefault((c.path, c.name), []).append(c)
    used = set()
    nsites = 0
    for path in scanned_files(root):
        r = rel(root, path)
        s = source(r)
        for line, fn, call in s.sites():
            nsites += 1
            key = (r, fn)
            if key in cited:
                continue
            exc = [e for e in exceptions.get(key, []) if e.exception[0] == call.split(" ")[0]]
            if exc:
                used.update(id(e) for e in exc)
                continue
            problems.append("%s: %s: %s (line %d): no row of %s names `%s: %s`" % (
                r, fn, call, line, SAFETY, r, fn))
    for key, es in exceptions.items():
        for e in es:
            if id(e) not in used:
                problems.append("%s: %s: exception for `%s` (%s:%d) matches no site" % (
                    e.path, e.name, e.exception[0], SAFETY, e.lineno))
    return problems, len(cites), nsites


def main_check(root):
    problems, ncites, nsites = check(root)
    for p in problems:
        print(p)
    if problems:
        print("safety-check: %d problem(s); SAFETY.md cites `FILE: FUNCTION` (see its top)" % len(problems),
              file=sys.stderr)
        return 1
    print("safety-check: %d citations resolve, %d allocation/handle sites in named functions" % (ncites, nsites))
    return 0


# --- --where ----------------------------------------------------------------

def main_where(root, args):
    for a in args:
        path, _, line = a.rpartition(":")
        s = Source(os.path.join(root, path))
        print("%s:%s -> %s" % (path, line, enclosing(s.funcs, int(line)) or "<file scope>"))
    return 0


# --- --selftest -------------------------------------------------------------

def copy_tree(root, dst):
    """Copy what the check reads: SAFETY.md, the scanned files and every
    file SAFETY.md cites."""
    with open(os.path.join(root, SAFETY), encoding="utf-8") as f:
        cites, _ = parse_safety(f.read())
    files = {SAFETY} | {rel(root, p) for p in scanned_files(root)} | {c.path for c in cites}
    for r in files:
        src = os.path.join(root, r)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(dst, r)), exist_ok=True)
            shutil.copy2(src, os.path.join(dst, r))


def run_copy(dst):
    """The check of the tree at dst, in this process: (exit status, output)."""
    problems, ncites, nsites = check(dst)
    if problems:
        return 1, "\n".join(problems) + "\n"
    return 0, "safety-check: %d citations resolve, %d sites\n" % (ncites, nsites)


def add_exception(d, row):
    """Add row to the exceptions table of d's SAFETY.md."""
    p = os.path.join(d, SAFETY)
    with open(p, encoding="utf-8") as f:
        lines = f.read().split("\n")
    k = next(i for i, l in enumerate(lines) if l.startswith("#") and "safety-check exceptions" in l)
    while not lines[k].startswith("|---"):
        k += 1
    lines.insert(k + 1, row.rstrip("\n"))
    with open(p, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def selftest(root):
    failures = []

    def expect(label, dst, rc_want, needle):
        rc, out = run_copy(dst)
        ok = rc == rc_want and needle in out
        print("selftest %-44s %s (exit %d)" % (label + ":", "ok" if ok else "FAILED", rc))
        if not ok:
            failures.append(label)
            print("  wanted exit %d and %r in:\n%s" % (rc_want, needle, out))

    with tempfile.TemporaryDirectory(prefix="safety_check.") as tmp:
        base = os.path.join(tmp, "clean")
        copy_tree(root, base)
        expect("the tree as it is passes", base, 0, "safety-check:")

        # (a) a malloc planted in a shim function that no row names.
        d = os.path.join(tmp, "malloc")
        shutil.copytree(base, d)
        cited = set()
        with open(os.path.join(d, SAFETY), encoding="utf-8") as f:
            cited = {(c.path, c.name) for c in parse_safety(f.read())[0] if c.in_row}
        victim = None
        for p in scanned_files(d):
            r = rel(d, p)
            if r.startswith("shim/") and r.endswith(".c"):
                for name, a, b in Source(p).funcs:
                    if (r, name) not in cited and b > a:
                        victim = (r, name, a)
                        break
            if victim:
                break
        if victim is None:
            failures.append("no shim function without a row to plant into")
        else:
            r, name, a = victim
            p = os.path.join(d, r)
            with open(p, encoding="utf-8") as f:
                lines = f.read().split("\n")
            k = a - 1
            while "{" not in lines[k]:
                k += 1
            lines[k] = lines[k] + " void *planted = malloc(16); (void)planted;"
            with open(p, "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
            expect("planted malloc in %s: %s" % (r, name), d, 1, "%s: %s: malloc" % (r, name))

        def safety_edited(name, edit):
            """A copy of the clean tree named name whose SAFETY.md is
            edit(its text)."""
            d = os.path.join(tmp, name)
            shutil.copytree(base, d)
            p = os.path.join(d, SAFETY)
            with open(p, encoding="utf-8") as f:
                text = f.read()
            with open(p, "w", encoding="utf-8") as f:
                f.write(edit(text))
            return d

        # (b) a row that names a function that does not exist.
        d = safety_edited("nofunc", lambda text: text + "\n| planted | `shim/arena.c: gohttp__arena_new, gohttp__arena_planted` | - | - | - |\n")
        expect("row naming a missing function", d, 1, "shim/arena.c: gohttp__arena_planted: no such function")

        # (c) a line-number citation.
        d = safety_edited("lineno", lambda text: text + "\n| planted | shim/arena.c:49 | - | - | - |\n")
        expect("row citing a line number", d, 1, "cites a line number (shim/arena.c:49)")

        # (d) every citation of the function holding a real Go site (the
        # first cgo.NewHandle) taken out of SAFETY.md: that site is unnamed.
        site = next(((rel(base, f), fn, call) for f in scanned_files(base) if f.endswith(".go")
                     for _, fn, call in Source(f).sites() if call == "cgo.NewHandle"), None)
        if site is None:
            failures.append("no cgo.NewHandle site to unname")
        else:
            r, fn, call = site

            def drop(m):
                if m.group(1) != r:
                    return m.group(0)
                names = [x.strip() for x in m.group(2).split(",") if x.strip() != fn]
                return "`%s: %s`" % (r, ", ".join(names)) if names else r
            d = safety_edited("norow", lambda text: CITE.sub(drop, text))
            expect("no row naming %s: %s" % (r, fn), d, 1, "%s: %s: %s" % (r, fn, call))

        # (e) the same planted malloc, listed as an exception: accepted;
        # (f) an exception that matches no site: reported.
        if victim is not None:
            r, name, _ = victim
            row = "| `%s: %s` | malloc | planted by the self-test |\n" % (r, name)
            d = os.path.join(tmp, "malloc")
            add_exception(d, row)
            expect("the planted malloc listed as an exception", d, 0, "safety-check:")
            d = os.path.join(tmp, "stale_exception")
            shutil.copytree(base, d)
            add_exception(d, row)
            expect("an exception matching no site", d, 1,
                   "%s: %s: exception for `malloc`" % (r, name))

    if failures:
        print("safety-check selftest: FAILED: " + "; ".join(failures))
        return 1
    print("safety-check selftest: every planted defect reported")
    return 0


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = argv[1:]
    if args[:1] == ["--root"]:
        root, args = args[1], args[2:]
    if args[:1] == ["--selftest"]:
        return selftest(root)
    if args[:1] == ["--and-selftest"]:  # make safety-check: one interpreter start
        return main_check(root) or selftest(root)
    if args[:1] == ["--where"]:
        return main_where(root, args[1:])
    if args:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        print("usage: safety_check.py [--root DIR] [--selftest | --and-selftest | --where FILE:LINE...]", file=sys.stderr)
        return 2
    return main_check(root)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

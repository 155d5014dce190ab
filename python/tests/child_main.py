"""Entry point of every child Python the tests start (conftest.spawn).

    python child_main.py -m MODULE ARGS...
    python child_main.py -c CODE ARGS...
    python child_main.py PATH ARGS...

runs the program exactly as `python -m MODULE ...` / `python -c CODE ...` /
`python PATH ...` would, with one addition: an atexit hook, registered
before the program imports gohttp (so it runs after gohttp's own exit
hook), prints the library's counters as the last line on stderr:

    gohttp counters at exit: {"arena_bytes": 0, ...}

conftest.finish_child() parses that line and asserts on it.
"""

import atexit
import json
import runpy
import sys

MARKER = "gohttp counters at exit: "


def _report():
    gohttp = sys.modules.get("gohttp")
    if gohttp is None:
        return          # the program never imported gohttp
    try:
        line = json.dumps(gohttp.stats(), sort_keys=True)
    except Exception as exc:        # reported, and then asserted on
        line = json.dumps({"error": repr(exc)})
    sys.stderr.write(MARKER + line + "\n")
    sys.stderr.flush()


def main():
    atexit.register(_report)
    args = sys.argv[1:]
    if not args:
        raise SystemExit("usage: child_main.py -m MODULE | -c CODE | PATH ...")
    if args[0] == "-m":
        sys.argv = [args[1]] + args[2:]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args[0] == "-c":
        sys.argv = ["-c"] + args[2:]
        code = compile(args[1], "<string>", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    else:
        sys.argv = args
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main()

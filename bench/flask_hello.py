"""make bench's Flask hello application.

    python -m gohttp flask_hello:app --bind 127.0.0.1:PORT   (gohttp WSGI)
    python flask_hello.py PORT                                (Flask's own)

Flask's own server runs threaded, with its per-request access log turned
off so both servers are measured doing the same work (no console I/O).
"""

import logging
import sys

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, world.\n"


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print("listening on http://127.0.0.1:%d/" % port, flush=True)
    app.run(host="127.0.0.1", port=port, threaded=True)

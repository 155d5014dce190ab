"""make bench's Flask hello application: one route answering
"Hello, world.\\n" on /, served by every WSGI server of the bench
(module:attribute flask_hello:app)."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, world.\n"

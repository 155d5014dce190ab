"""A small Flask application served by gohttp's WSGI server.

    python -m gohttp flask_app:app --bind 127.0.0.1:8000   (from this dir)

Its routes cover what the test suite compares against Flask's own server:
JSON in and out, a form POST, a file upload, a redirect, 404/405, cookies
and a streamed response.
"""

import hashlib

from flask import (Flask, Response, jsonify, make_response, redirect,
                   request, stream_with_context, url_for)

app = Flask(__name__)


@app.get("/")
def index():
    return "<h1>gohttp + Flask</h1>\n"


@app.route("/json", methods=["GET", "POST"])
def json_echo():
    if request.method == "POST":
        return jsonify(received=request.get_json(), length=request.content_length)
    return jsonify(hello="world", args=request.args.to_dict(flat=False))


@app.post("/form")
def form():
    return jsonify(form=request.form.to_dict(flat=False))


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(filename=f.filename, size=len(data),
                   sha256=hashlib.sha256(data).hexdigest(),
                   note=request.form.get("note"))


@app.get("/redirect")
def go_elsewhere():
    return redirect(url_for("json_echo", via="redirect"))


@app.get("/only-get")
def only_get():
    return "get only\n"


@app.get("/cookie/set")
def cookie_set():
    resp = make_response("set\n")
    resp.set_cookie("flavor", "oatmeal", httponly=True)
    resp.set_cookie("count", "1")
    return resp


@app.get("/cookie/get")
def cookie_get():
    return jsonify(cookies=request.cookies.to_dict())


@app.get("/stream")
def stream():
    def rows():
        for i in range(5):
            yield "row %d\n" % i
    return Response(stream_with_context(rows()), mimetype="text/plain")


@app.get("/headers")
def headers():
    return jsonify(user_agent=request.headers.get("User-Agent"),
                   multi=request.headers.get("X-Multi"),
                   remote=request.remote_addr, scheme=request.scheme,
                   path=request.path, full_path=request.full_path)


if __name__ == "__main__":
    from gohttp.wsgi import serve
    serve(app, host="127.0.0.1", port=8000)

"""hello-rest on Flask, served by gunicorn (see run for the worker class)."""
import os
import time

from flask import Flask, request

request_delay = float(os.environ.get("HELLO_REST_REQUEST_DELAY") or "0")

app = Flask(__name__)


@app.route("/", methods=["GET", "POST"])
def hello_world():
    if request.method == "POST":
        request.get_data()  # read the body
    time.sleep(request_delay)
    return "Hello, World!"


@app.route("/health")
def health():
    # gunicorn/Flask have no "shutting down" notion visible to the app: always 200.
    return "OK"

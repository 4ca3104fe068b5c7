"""The brand's backend talking to the live server's API: plain HTTP with a secret key, no browser."""

import json
import urllib.error
import urllib.request


def call_api(live_server, secret, path, body=None):
    """`(status, json)` of a GET, or of a POST when there is a body, to `/api/v1/<path>`."""
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())

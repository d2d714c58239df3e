"""A Python service in the mesh, behind `hyphae proxy` (see ../proxy.ts).

It knows nothing of mTLS or SPIFFE: the proxy verified its caller and says
who it is in x-forwarded-client-cert (Envoy's format: By=...;Hash=...;URI=...),
and it calls the Node service `api` by name through the proxy's outbound
listener, which urllib uses because HTTP_PROXY points at it.

    HTTP_PROXY=http://127.0.0.1:15001 python3 examples/python/app.py --port 9000
"""
import argparse
import json
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def caller(xfcc):
    # The element the proxy added is the only one: it removes any x-forwarded-client-cert sent to it.
    for pair in (xfcc or "").split(";"):
        key, _, value = pair.partition("=")
        if key == "URI":
            return value
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with urllib.request.urlopen("http://api/from-python", timeout=10) as res:
            api = json.loads(res.read())
        body = json.dumps({"service": "legacy", "caller": caller(self.headers.get("x-forwarded-client-cert")), "api": api}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9000)
    port = parser.parse_args().port
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"python app listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()

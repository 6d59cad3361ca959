#!/usr/bin/env python3
"""Loopback HTTPS server for the MTA-STS tests: serves the files of DIR (".txt" as
text/plain) over TLS with CERT/KEY on 127.0.0.x:443, trying addresses from the
`first`th on. Prints "ADDR <ip>" when ready, then "REQUEST <host> <path> <status>"
for each request answered; serves until stdin closes.

A file FILE.status next to FILE (e.g. ".well-known/mta-sts.txt.status" holding
"500") makes requests for FILE get that status instead, so a test can switch
between a policy, an error status (that file) and 404 (no FILE) mid-run.

usage: https_server.py DIR CERT KEY FIRST_OCTET
"""

import functools
import http.server
import ssl
import sys
import threading

PRINT_LOCK = threading.Lock()


class PolicyHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        status_file = self.translate_path(self.path) + ".status"
        try:
            with open(status_file) as handle:
                status = int(handle.read().strip())
        except (OSError, ValueError):
            return super().do_GET()
        self.send_error(status)

    def log_request(self, code="-", size="-"):
        host = self.headers.get("Host", "-") if self.headers else "-"
        with PRINT_LOCK:
            print(f"REQUEST {host} {self.path} {int(code)}", flush=True)

    def log_message(self, *args):
        pass


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    root, cert, key, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    handler = functools.partial(PolicyHandler, directory=root)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # Port 443 is fixed by RFC 8461; parallel tests use different loopback addresses.
    for octet in range(first, first + 40):
        ip = f"127.0.{octet // 250}.{octet % 250 + 2}"
        try:
            server = http.server.ThreadingHTTPServer((ip, 443), handler)
        except OSError:
            continue
        break
    else:
        sys.exit("no free loopback address for port 443")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ADDR {ip}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()

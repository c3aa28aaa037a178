"""The pages `missive check --links` tests against, on loopback: written for
this project. Prints `READY <port>`, then serves until killed; counts the
requests it answers in --count (one line per request: METHOD PATH).

  /ok, /ok-*           200
  /moved               301 to /new-home-of-moved
  /temp                302 to / (the site's home page: a probable dead link)
  /gone                410
  /missing             404
  /broken              500
  /no-head             405 to HEAD, 200 to GET
  /slow                answers after --slow seconds
  /huge                200 with a 50 MB body
  /img/wide.png        a PNG 1,200 px wide; /img/small.png one 160 px wide
"""
import argparse
import http.server
import socketserver
import struct
import threading
import time
import zlib

p = argparse.ArgumentParser()
p.add_argument("--count", required=True)
p.add_argument("--slow", type=float, default=30)
args = p.parse_args()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def route(self):
        with lock, open(args.count, "a") as f:
            f.write(f"{self.command} {self.path}\n")
        path = self.path.split("?")[0]
        if path == "/" or path.startswith("/ok") or path == "/new-home-of-moved":
            return self.answer(200, [("Content-Type", "text/html")], b"<title>ok</title>")
        if path in ("/img/wide.png", "/img/small.png"):
            width, height = (1200, 600) if path == "/img/wide.png" else (160, 90)
            ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
            chunk = b"IHDR" + ihdr
            png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
                   + struct.pack(">I", zlib.crc32(chunk)) + b"\0" * 4096)
            return self.answer(200, [("Content-Type", "image/png")], png)
        if path == "/moved":
            return self.answer(301, [("Location", "/new-home-of-moved")])
        if path == "/temp":
            return self.answer(302, [("Location", "/")])
        if path == "/gone":
            return self.answer(410)
        if path == "/broken":
            return self.answer(500)
        if path == "/no-head":
            if self.command == "HEAD":
                return self.answer(405)
            return self.answer(200, [("Content-Type", "text/html")], b"<title>ok</title>")
        if path == "/slow":
            time.sleep(args.slow)
            return self.answer(200)
        if path == "/huge":
            size = 50 * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command != "HEAD":
                chunk = b"x" * 65536
                try:
                    for _ in range(size // len(chunk)):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            return
        return self.answer(404)

    do_GET = route
    do_HEAD = route


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", 0), Handler)
print(f"READY {server.server_address[1]}", flush=True)
server.serve_forever()

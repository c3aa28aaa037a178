#!/usr/bin/env python3
"""A TCP proxy that puts a relay far away: every chunk is held DELAY ms in
each direction (so a round trip costs 2 x DELAY, and chunks in flight
overlap as they would on a real link), and the round trips the distance
costs are counted, two ways:

- waits: the server has answered everything it was sent and sits idle until
  the client's next bytes reach it at least 1.5 x DELAY after its last reply
  (the client had to hear the answer before it could speak: a round trip
  the distance costs). The proxy follows the SMTP dialogue to know what is
  answered: commands, the message after a 354 up to its ".", and `BDAT n`
  with its n bytes each want one reply; a reply's last line ends it. A
  server still working through messages it was sent is not waiting on the
  client, however long it takes to answer.
- pauses: each time the client writes after the server last spoke, having
  been silent for most of a round trip. This also counts the time the
  client waits for a server that is slow to answer (its disk, its CPU),
  which no protocol saves.

Prints "READY <port>" once it listens; writes "<waits> <pauses> <lost>" to
--turns-file whenever a connection closes (lost: connections whose every
ask did not get its reply, where the count of waits is not to be trusted).

Usage: delay_proxy.py --target PORT --delay-ms 10 --turns-file FILE
"""

import argparse
import asyncio
import collections
import os
import re
import signal
import time


class Counter:
    def __init__(self, path):
        self.path = path
        self.waits = 0
        self.pauses = 0
        self.lost = 0  # connections whose dialogue the proxy lost track of

    def save(self):
        # Atomic: a proxy killed mid-write leaves the last whole count.
        with open(self.path + ".tmp", "w") as f:
            f.write(f"{self.waits} {self.pauses} {self.lost}")
        os.replace(self.path + ".tmp", self.path)


BDAT = re.compile(rb"^BDAT\s+(\d+)", re.IGNORECASE)


class Dialogue:
    """What the client has asked and the server answered, read from both
    streams (plain SMTP: the bench speaks no TLS)."""

    def __init__(self):
        self.asked = collections.deque(["greeting"])  # wanting a reply, in order
        self.line = b""  # the client's command so far
        self.raw = 0  # BDAT bytes still to come
        self.in_message = False  # between a 354 and the "."
        self.tail = b""  # the message's last bytes, for its "."
        self.reply = b""  # the server's line so far

    def client(self, data):
        """How many replies the client's bytes ask for."""
        asks = 0
        i = 0
        while i < len(data):
            if self.raw:
                take = min(self.raw, len(data) - i)
                self.raw -= take
                i += take
                continue
            if self.in_message:
                end = (self.tail + data[i:]).find(b"\r\n.\r\n")
                if end < 0:
                    self.tail = (self.tail + data[i:])[-4:]
                    break
                i += end - len(self.tail) + 5
                self.tail = b""
                self.in_message = False
                self.asked.append("message")
                asks += 1
                continue
            nl = data.find(b"\n", i)
            if nl < 0:
                self.line += data[i:]
                break
            line = self.line + data[i:nl + 1]
            self.line = b""
            i = nl + 1
            self.asked.append(line[:4].upper())
            asks += 1
            bdat = BDAT.match(line)
            if bdat:
                self.raw = int(bdat.group(1))
        return asks

    def server(self, data):
        """How many replies the server's bytes end."""
        ends = 0
        self.reply += data
        while b"\n" in self.reply:
            line, self.reply = self.reply.split(b"\n", 1)
            if len(line) >= 4 and line[3:4] == b"-":
                continue
            ends += 1
            asked = self.asked.popleft() if self.asked else None
            if asked == b"DATA" and line.startswith(b"354"):
                self.in_message = True
                self.tail = b"\r\n"  # the message starts a line
        return ends


async def pipe(reader, writer, delay, on_read, on_release):
    queue = asyncio.Queue()

    async def release():
        while True:
            at, data, note = await queue.get()
            if data is None:
                break
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            on_release(note)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    releaser = asyncio.create_task(release())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            note = on_read(data)
            queue.put_nowait((time.monotonic() + delay, data, note))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None, None))
    try:
        await releaser
    except (ConnectionError, OSError):
        pass


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--delay-ms", type=float, default=10.0, help="one way")
    p.add_argument("--turns-file", required=True)
    args = p.parse_args()
    delay = args.delay_ms / 1000
    counter = Counter(args.turns_file)
    counter.save()

    async def serve(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", args.target)
        dialogue = Dialogue()
        # Client side: when the client last wrote, and whether the server
        # spoke since. Server side: replies asked for by what reached it (the
        # greeting by the connection itself) and replies it gave, when it last
        # answered, and whether any client bytes reached it since.
        state = {"server_spoke": True, "last": 0.0, "sent": 1, "answered": 0,
                 "replied_at": time.monotonic(), "heard_since": False}

        def client_read(data):
            now = time.monotonic()
            waited = now - state["last"] >= 1.5 * delay
            state["last"] = now
            if state["server_spoke"] and waited:
                counter.pauses += 1
            state["server_spoke"] = False
            return dialogue.client(data)

        def reaches_server(asks):
            idle = time.monotonic() - state["replied_at"]
            if (not state["heard_since"] and state["sent"] == state["answered"]
                    and idle >= 1.5 * delay):
                counter.waits += 1
            state["heard_since"] = True
            state["sent"] += asks

        def server_read(data):
            state["server_spoke"] = True
            ends = dialogue.server(data)
            if ends:
                state["answered"] += ends
                state["replied_at"] = time.monotonic()
                state["heard_since"] = False

        await asyncio.gather(
            pipe(client_reader, server_writer, delay, client_read, reaches_server),
            pipe(server_reader, client_writer, delay, server_read, lambda _: None),
        )
        client_writer.close()
        server_writer.close()
        # Every ask answered by the end (QUIT's 221 included), or the waits
        # counted on this connection cannot be trusted.
        if state["sent"] != state["answered"] or dialogue.asked:
            counter.lost += 1
        counter.save()

    # Stopped (SIGTERM): the count so far, then out.
    def stop():
        counter.save()
        os._exit(0)

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print("READY %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

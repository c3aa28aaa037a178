#!/usr/bin/env python3
"""A TCP proxy that puts a relay far away: every chunk is held DELAY ms in
each direction (so a round trip costs 2 x DELAY, and chunks in flight
overlap as they would on a real link), and the client's waits are counted:
each time the client writes after the server last spoke, having been
silent for most of a round trip (it was waiting for the reply, rather
than streaming while replies were on their way). Prints "READY <port>" once it listens; writes the
count of turns to --turns-file whenever a connection closes.

Usage: delay_proxy.py --target PORT --delay-ms 10 --turns-file FILE
"""

import argparse
import asyncio
import os
import signal
import time


class Counter:
    def __init__(self, path):
        self.path = path
        self.turns = 0

    def save(self):
        # Atomic: a proxy killed mid-write leaves the last whole count.
        with open(self.path + ".tmp", "w") as f:
            f.write(str(self.turns))
        os.replace(self.path + ".tmp", self.path)


async def pipe(reader, writer, delay, on_chunk):
    queue = asyncio.Queue()

    async def release():
        while True:
            at, data = await queue.get()
            if data is None:
                break
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
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
            on_chunk()
            queue.put_nowait((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None))
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
        state = {"server_spoke": True, "last": 0.0}

        def client_chunk():
            now = time.monotonic()
            waited = now - state["last"] >= 1.5 * delay
            state["last"] = now
            if state["server_spoke"] and waited:
                counter.turns += 1
            state["server_spoke"] = False

        def server_chunk():
            state["server_spoke"] = True

        await asyncio.gather(
            pipe(client_reader, server_writer, delay, client_chunk),
            pipe(server_reader, client_writer, delay, server_chunk),
        )
        client_writer.close()
        server_writer.close()
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

#!/usr/bin/env python3
"""A real SMTP server for missive's tests, built on aiosmtpd.

It saves every accepted message to OUT/<n>.eml (with the envelope in
OUT/<n>.json) and can misbehave on purpose, deterministically per recipient:
answer 451 to a share of first attempts, refuse chosen addresses with 550,
drop the connection in the middle of DATA, stall past the client's timeout,
take its time over the final reply to chosen recipients' messages, or
(--auth-fails-after N) act as an account suspended after N messages: every
connection is closed at its next MAIL and every new AUTH refused.
With --pipelining it offers PIPELINING (RFC 2920; aiosmtpd reads pipelined
commands in order), and can then misbehave inside pipelined groups: answer
a chosen recipient's first RCPT with 421 and close the connection
(--close-421-for), or with 354, out of turn (--rcpt-354-once).
Every RCPT is logged to OUT/rcpt.log. It prints "READY <port>" once it listens, and runs until stdin closes or it
is killed.
"""

import argparse
import asyncio
import hashlib
import json
import os
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def bucket(address, salt):
    digest = hashlib.sha256((salt + address.lower()).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 1000


class Handler:
    def __init__(self, args):
        self.args = args
        self.out = args.out
        self.lock = threading.Lock()
        # A server started again on the same folder adds to what it has.
        self.count = len([f for f in os.listdir(args.out) if f.endswith(".eml")])
        self.attempts = {}
        self.reject = set(a.lower() for a in args.reject_550.split(",") if a)
        self.slow_final = set(a.lower() for a in args.final_delay_for.split(",") if a)
        self.block = set(a.lower() for a in args.reject_571.split(",") if a)
        self.close_421 = set(a.lower() for a in args.close_421_for.split(",") if a)
        self.out_of_turn = set(a.lower() for a in args.rcpt_354_once.split(",") if a)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.args.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        if self.args.no_8bitmime:
            responses = [r for r in responses if r != "250-8BITMIME"]
        return responses

    def first_attempt(self, address, stage):
        """Counts attempts per recipient and stage; True on the first."""
        key = (address.lower(), stage)
        with self.lock:
            self.attempts[key] = self.attempts.get(key, 0) + 1
            return self.attempts[key] == 1

    def faulty(self, address, permille, salt):
        return permille > 0 and bucket(address, salt) < permille

    def suspended(self):
        limit = self.args.auth_fails_after
        with self.lock:
            return limit >= 0 and self.count >= limit

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.suspended():
            server.transport.close()
            return "421 4.7.0 Account suspended, closing connection"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        if self.args.delay_ms:
            await asyncio.sleep(self.args.delay_ms / 1000)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            with open(os.path.join(self.out, "rcpt.log"), "a") as log:
                log.write(address + "\n")
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: %s" % (address, self.args.reject_text)
        if address.lower() in self.close_421 and self.first_attempt(address, "421"):
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return "421 4.3.2 Service shutting down, closing transmission channel"
        if address.lower() in self.out_of_turn and self.first_attempt(address, "354"):
            return "354 End data with <CR><LF>.<CR><LF>"
        if address.lower() in self.block:
            return "550 5.7.1 <%s>: Message refused: sender listed as spam source" % address
        if self.faulty(address, self.args.stall_permille, "stall") and self.first_attempt(address, "stall"):
            await asyncio.sleep(self.args.stall_secs)
        if self.faulty(address, self.args.fail_451_permille, "451") and self.first_attempt(address, "451"):
            return "451 4.3.0 Temporary failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        if self.args.no_8bitmime and any(b > 127 for b in envelope.original_content):
            return "554 5.6.0 8-bit data to a server that offers no 8BITMIME"
        if self.faulty(rcpt, self.args.drop_permille, "drop") and self.first_attempt(rcpt, "drop"):
            server.transport.abort()
            return "421 dropped"
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.out, "%06d" % n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            json.dump({
                "mail_from": envelope.mail_from,
                "mail_options": envelope.mail_options,
                "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None
                       or server.transport.get_extra_info("ssl_object") is not None,
                "auth": session.authenticated,
            }, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        if rcpt.lower() in self.slow_final:
            # The message is stored; the reply saying so comes late.
            await asyncio.sleep(self.args.final_delay_secs)
        return "250 2.0.0 Ok: queued as %d" % n


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=["plain", "starttls", "tls"], default="plain")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", default="", help="USER:PASSWORD; AUTH is then required")
    p.add_argument("--fail-451-permille", type=int, default=0)
    p.add_argument("--reject-550", default="", help="comma-separated addresses")
    p.add_argument("--drop-permille", type=int, default=0)
    p.add_argument("--stall-permille", type=int, default=0)
    p.add_argument("--stall-secs", type=float, default=3.0)
    p.add_argument("--delay-ms", type=float, default=0)
    p.add_argument("--reject-text", default="Recipient address rejected: no such user")
    p.add_argument("--reject-571", default="", help="comma-separated addresses refused as spam")
    p.add_argument("--final-delay-for", default="", help="comma-separated addresses")
    p.add_argument("--final-delay-secs", type=float, default=0)
    p.add_argument("--auth-fails-after", type=int, default=-1,
                   help="after N accepted messages, close connections and refuse AUTH")
    p.add_argument("--pipelining", action="store_true", help="offer PIPELINING")
    p.add_argument("--close-421-for", default="",
                   help="comma-separated addresses: their first RCPT gets 421 and the connection closes")
    p.add_argument("--rcpt-354-once", default="",
                   help="comma-separated addresses: their first RCPT is answered 354, out of turn")
    p.add_argument("--no-smtputf8", action="store_true",
                   help="offer no SMTPUTF8 (internationalized addresses)")
    p.add_argument("--no-8bitmime", action="store_true",
                   help="offer no 8BITMIME, and refuse a message with 8-bit data")
    p.add_argument("--size-limit", type=int, default=0,
                   help="advertise SIZE with this limit and refuse larger messages")
    p.add_argument("--port", type=int, default=0,
                   help="listen on this port (a server started again where one was)")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    context = None
    if args.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    handler = Handler(args)
    kwargs = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (not handler.suspended()
                  and isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok, handled=False)

        # With implicit TLS aiosmtpd does not know the link is encrypted.
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=args.mode == "starttls")
    if args.mode == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    elif args.mode == "tls":
        kwargs.update(ssl_context=context)

    if args.no_smtputf8:
        kwargs.update(enable_SMTPUTF8=False)
    if args.size_limit:
        kwargs.update(data_size_limit=args.size_limit)

    port = args.port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            server_hostname="localhost", ready_timeout=10, **kwargs)
    controller.start()
    print("READY %d" % port, flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()

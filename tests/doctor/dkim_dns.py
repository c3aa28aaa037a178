#!/usr/bin/env python3
"""The second DKIM verifier: dkimpy, reading the key from the DNS server at
127.0.0.1:PORT (dnspython), as a receiver would. Exits 0 when the message's
signature verifies, 1 when it does not.

Usage: dkim_dns.py PORT MESSAGE
"""

import sys

import dkim
import dns.resolver


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port

    def txt(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer[0].strings)

    message = open(path, "rb").read()
    ok = dkim.verify(message, dnsfunc=txt)
    print("pass" if ok else "fail")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

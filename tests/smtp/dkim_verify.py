#!/usr/bin/env python3
"""Verifies the DKIM signature of a message (dkimpy) against a public key in
PEM form, standing in for the DNS record. Prints the signed header names and
exits 0 when the signature verifies, 1 when it does not."""

import base64
import re
import sys

import dkim


def main():
    message = open(sys.argv[1], "rb").read()
    pem = open(sys.argv[2]).read()
    der = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
    record = ("v=DKIM1; k=rsa; p=" + der).encode()

    def dns(name, timeout=5):
        return record

    verifier = dkim.DKIM(message)
    ok = verifier.verify(dnsfunc=dns)
    signature = verifier.signature_fields if hasattr(verifier, "signature_fields") else {}
    headers = signature.get(b"h", b"").decode()
    if not headers:
        match = re.search(rb"\bh=([^;]+)", message.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" "))
        headers = match.group(1).decode() if match else ""
    print(" ".join(h.strip().lower() for h in headers.split(":")))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The reference verdicts: checkdmarc (PyPI) on each domain, asking only the
DNS server at 127.0.0.1:PORT. Prints one JSON object: for each domain,
whether checkdmarc finds its SPF and its DMARC record valid, and the
warnings it gives about them.

Usage: checkdmarc_verdicts.py PORT DOMAIN...
"""

import json
import sys
import warnings

warnings.simplefilter("ignore")

import checkdmarc  # noqa: E402
import dns.resolver  # noqa: E402


def main():
    port = int(sys.argv[1])
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.timeout = resolver.lifetime = 3
    out = {}
    for domain in sys.argv[2:]:
        result = checkdmarc.check_domains([domain], resolver=resolver, skip_tls=True, timeout=3)
        spf, dmarc = result["spf"], result["dmarc"]
        out[domain] = {
            "spf": bool(spf.get("valid")),
            "spf_error": spf.get("error"),
            "dmarc": bool(dmarc.get("valid")),
            "dmarc_error": dmarc.get("error"),
            "dmarc_warnings": [str(w) for w in dmarc.get("warnings", [])],
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

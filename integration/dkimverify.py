#!/usr/bin/env python3
"""Verify every DKIM-Signature of a message with dkimpy (an implementation independent
of sge-milter), resolving keys through a given DNS server instead of the system's.

usage: dkimverify.py DNS_IP DNS_PORT < message
Exit status 0 when every signature verifies, 1 otherwise; one line per signature.
"""
import sys

import dkim
import dns.resolver


def main():
    server, port = sys.argv[1], int(sys.argv[2])
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.port = port
    resolver.lifetime = 5

    def txt(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(name, "TXT")
        except Exception:
            return None
        for rr in answer:
            return b"".join(rr.strings)
        return None

    message = sys.stdin.buffer.read()
    verifier = dkim.DKIM(message)
    count = len([1 for h in message.split(b"\r\n\r\n", 1)[0].split(b"\n")
                 if h.lower().startswith(b"dkim-signature:")])
    if count == 0:
        print("no DKIM-Signature")
        return 1
    ok = True
    for i in range(count):
        good = verifier.verify(idx=i, dnsfunc=txt)
        print(f"signature {i}: {'pass' if good else 'fail'}")
        ok = ok and good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

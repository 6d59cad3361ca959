#!/usr/bin/env python3
"""Sign a message with dkimpy using simple/simple canonicalisation (the strictest:
any change to header folding breaks it), as a third-party sender would.

usage: dkimsign.py KEY_PEM SELECTOR DOMAIN < message > signed
"""
import sys

import dkim


def main():
    key_file, selector, domain = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(key_file, "rb") as f:
        key = f.read()
    message = sys.stdin.buffer.read()
    sig = dkim.sign(
        message,
        selector.encode(),
        domain.encode(),
        key,
        canonicalize=(b"simple", b"simple"),
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    sys.stdout.buffer.write(sig + message)
    return 0


if __name__ == "__main__":
    sys.exit(main())

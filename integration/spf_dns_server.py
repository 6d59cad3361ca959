#!/usr/bin/env python3
"""Loopback DNS server for the RFC 7208 / RFC 4408 SPF test suites.

Two commands:
  dump SUITE.yml   print the suite's scenarios as JSON (zonedata normalised the way the
                   suite's own driver, pyspf's testspf.py, reads it)
  serve ZONE.json  answer A/AAAA/MX/PTR/TXT/SPF/CNAME queries for one scenario's zone on
                   127.0.0.1 (UDP and TCP, same free port); prints "PORT <n>" when ready;
                   SIGHUP re-reads ZONE.json (tests that change DNS mid-run)

Zone semantics follow testspf.py: a TIMEOUT entry makes queries of types not listed before
it fail (served as SERVFAIL, so the resolver reports a temporary error without waiting),
names under "error." that are not in the zone fail the same way, SPF records are also
served as TXT when a name has no TXT records, and "NONE" marks an absent record type.
"""

import json
import signal
import socket
import sys
import threading

import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSServer


def normalise_rdata(name, entries):
    """testspf.py getrdata(): list of [type, value] or "TIMEOUT"."""
    out = []
    generated_txt = []
    has_txt = False
    for entry in entries:
        if isinstance(entry, str):
            out.append(entry)
            continue
        for rtype, value in entry.items():
            if rtype in ("TXT", "SPF") and isinstance(value, str):
                value = [value]
            if rtype == "TXT":
                has_txt = True
            elif rtype == "SPF":
                generated_txt.append(["TXT", value])
            if value != ["NONE"]:
                out.append([rtype, value])
    if not has_txt:
        out.extend(generated_txt)
    return out


def dump(path):
    scenarios = []
    with open(path, "rb") as handle:
        for doc in yaml.safe_load_all(handle):
            zone = {
                name.lower(): normalise_rdata(name, entries or [])
                for name, entries in (doc.get("zonedata") or {}).items()
            }
            tests = {}
            for test_id, test in doc["tests"].items():
                result = test["result"]
                tests[test_id] = {
                    "host": str(test["host"]),
                    "helo": str(test["helo"]),
                    "mailfrom": str(test.get("mailfrom") or ""),
                    "result": result if isinstance(result, list) else [result],
                    "explanation": test.get("explanation"),
                    "spec": str(test.get("spec", "")),
                }
            scenarios.append(
                {"description": doc.get("description", ""), "zone": zone, "tests": tests}
            )
    json.dump(scenarios, sys.stdout)


class Timeout(Exception):
    pass


class ZoneResolver(BaseResolver):
    def __init__(self, zone):
        self.zone = zone

    def records(self, name, qtype, depth=0):
        """Answer RRs for name/qtype, raising Timeout or KeyError (NXDOMAIN)."""
        key = name.rstrip(".").lower()
        if key not in self.zone:
            if key.startswith("error."):
                raise Timeout()
            raise KeyError(key)
        answers = []
        seen_type = False
        for entry in self.zone[key]:
            if entry == "TIMEOUT":
                if not seen_type:
                    raise Timeout()
                break
            rtype, value = entry
            if rtype == qtype:
                seen_type = True
            if value == "TIMEOUT":
                if rtype == qtype:
                    raise Timeout()
                continue
            if rtype == "CNAME":
                answers.append(RR(label(name), QTYPE.CNAME, rdata=CNAME(label(value)), ttl=60))
                if depth < 8:
                    try:
                        answers.extend(self.records(value, qtype, depth + 1))
                    except KeyError:
                        pass
            elif rtype == qtype or (rtype == "SPF" and qtype == "SPF"):
                answers.append(make_rr(name, rtype, value))
        return answers

    def resolve(self, request, handler):
        reply = request.reply()
        # Raw labels: the suite has names with spaces, ':' and '/', which str() escapes.
        qname = ".".join(l.decode("utf-8", "replace") for l in request.q.qname.label)
        qtype = QTYPE.get(request.q.qtype)
        try:
            for rr in self.records(qname, qtype):
                reply.add_answer(rr)
        except Timeout:
            reply.header.rcode = RCODE.SERVFAIL
        except KeyError:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def txt_strings(value):
    strings = []
    for item in value:
        data = str(item).encode("utf-8")
        # A TXT character-string holds at most 255 octets.
        chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
        strings.extend(chunks)
    return strings or [b""]


def label(name):
    """A dnslib name from text, split on dots only (no escape processing)."""
    return DNSLabel([part.encode("utf-8") for part in name.rstrip(".").split(".") if part])


def make_rr(name, rtype, value):
    name = label(name)
    if rtype == "A":
        return RR(name, QTYPE.A, rdata=A(value), ttl=60)
    if rtype == "AAAA":
        return RR(name, QTYPE.AAAA, rdata=AAAA(value), ttl=60)
    if rtype == "MX":
        return RR(name, QTYPE.MX, rdata=MX(label(value[1]), value[0]), ttl=60)
    if rtype == "PTR":
        return RR(name, QTYPE.PTR, rdata=PTR(label(value)), ttl=60)
    if rtype in ("TXT", "SPF"):
        return RR(name, getattr(QTYPE, rtype), rdata=TXT(txt_strings(value)), ttl=60)
    raise ValueError(rtype)


def serve(path):
    with open(path) as handle:
        zone = json.load(handle)
    resolver = ZoneResolver(zone)

    def reload(_signum, _frame):
        with open(path) as handle:
            # One assignment: queries see the old zone or the new one, never a mix.
            resolver.zone = json.load(handle)

    signal.signal(signal.SIGHUP, reload)
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        try:
            udp = DNSServer(resolver, address="127.0.0.1", port=port)
            tcp = DNSServer(resolver, address="127.0.0.1", port=port, tcp=True)
        except OSError:
            continue
        break
    else:
        sys.exit("no free port")
    udp.start_thread()
    tcp.start_thread()
    print(f"PORT {port}", flush=True)
    # Serve until the test closes our stdin or kills us.
    sys.stdin.read()
    udp.stop()
    tcp.stop()


if __name__ == "__main__":
    import dnslib.server

    dnslib.server.DNSLogger.__init__ = lambda self, *a, **k: None
    for method in ("log_recv", "log_send", "log_request", "log_reply", "log_truncated",
                   "log_error", "log_data", "log_prefix"):
        setattr(dnslib.server.DNSLogger, method, lambda self, *a, **k: None)
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(__doc__)

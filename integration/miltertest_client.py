#!/usr/bin/env python3
"""MTA side of the milter protocol, independent of sge-milter's own stack.

Drives a running sge-milter with the PyPI package `miltertest` (a pure-Python
implementation of the MTA side) and prints one JSON object per conversation on
stdout. Used by tests/miltertest_e2e.rs; also handy by hand:

    python3 integration/miltertest_client.py --port 8894 reject

Scenarios (see SCENARIOS below) cover the wiring test strings of the embedded
rules, a client that disconnects mid-body, and malformed input.

Headers and body chunks are sent as raw bytes (miltertest's encoders take str),
so 8-bit junk and NULs reach the milter exactly as given.
"""

import argparse
import json
import socket
import struct
import sys

try:
    import miltertest
    from miltertest import constants as C
except ImportError:
    sys.exit("miltertest_client.py: the PyPI package 'miltertest' is missing "
             "(pip install miltertest); integration/test.sh installs it")

REJECT = "SGE-MILTER-TEST-REJECT-4F1C9"
QUARANTINE = "SGE-MILTER-TEST-QUARANTINE-8B27D"
TAG = "SGE-MILTER-TEST-TAG-2A6E0"

REPLY_NAMES = {
    C.SMFIR_ACCEPT: "accept",
    C.SMFIR_CONTINUE: "continue",
    C.SMFIR_REJECT: "reject",
    C.SMFIR_TEMPFAIL: "tempfail",
    C.SMFIR_DISCARD: "discard",
    C.SMFIR_REPLYCODE: "replycode",
    C.SMFIR_QUARANTINE: "quarantine",
    C.SMFIR_ADDHEADER: "addheader",
    C.SMFIR_INSHEADER: "insheader",
    C.SMFIR_CHGHEADER: "chgheader",
}


def raw_packet(cmd, payload):
    """One milter packet: 4-byte length, command char, payload bytes."""
    return struct.pack("!Lc", len(payload) + 1, cmd.encode()) + payload


class Conversation:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.conn = miltertest.MilterConnection(self.sock)
        self.log = []

    def negotiate(self):
        # Everything the v6 protocol offers except SETSYMLIST: miltertest cannot
        # decode an OPTNEG reply that carries macro lists.
        actions = C.SMFI_V6_ACTS & ~C.SMFIF_SETSYMLIST
        ract, rprot = self.conn.optneg_mta(actions=actions, protocol=C.SMFI_V6_PROT)
        self.log.append({"stage": "optneg", "actions": ract, "protocol": rprot})
        self.protocol = rprot
        return ract, rprot

    def no_reply(self, flag):
        """Whether the milter asked for no reply at this stage (SMFIP_NR_*): an MTA
        then sends the next command without waiting, as Postfix does."""
        return bool(getattr(self, "protocol", 0) & flag)

    def expect_continue(self, stage, cmd, nr_flag=0, **args):
        if self.no_reply(nr_flag):
            self.conn._send(cmd, **args)
            self.log.append({"stage": stage, "reply": "noreply"})
            return None
        reply = self.conn.send_ar(cmd, **args)
        self.log.append({"stage": stage, "reply": REPLY_NAMES.get(reply[0], reply[0])})
        return reply

    def envelope(self, client_ip="127.0.0.1"):
        self.conn.send_macro(C.SMFIC_CONNECT, j="gateway.test",
                             **{"{daemon_name}": "mta", "{client_addr}": client_ip})
        self.expect_continue("connect", C.SMFIC_CONNECT, hostname="client.test",
                             family=C.SMFIA_INET, port=40000, address=client_ip)
        self.expect_continue("helo", C.SMFIC_HELO, C.SMFIP_NR_HELO, helo="client.test")
        self.conn.send_macro(C.SMFIC_MAIL, i="TESTQID1", **{"{daemon_name}": "mta"})
        self.expect_continue("mail", C.SMFIC_MAIL, args=["<alice@sender.example>"])
        self.expect_continue("rcpt", C.SMFIC_RCPT, C.SMFIP_NR_RCPT,
                             args=["<bob@recipient.example>"])
        self.expect_continue("data", C.SMFIC_DATA, C.SMFIP_NR_DATA)

    def header(self, name, value):
        """Sends one header (bytes). Returns the reply, or None when the milter
        asked for no reply to headers."""
        self.sock.sendall(raw_packet(C.SMFIC_HEADER, name + b"\0" + value + b"\0"))
        if self.no_reply(C.SMFIP_NR_HDR):
            return None
        return self.conn.recv()

    def message(self, headers, body, chunk=C.MILTER_CHUNK_SIZE):
        """Headers, EOH, body in chunks, EOM. Returns the outcome dict."""
        for name, value in headers:
            reply = self.header(name, value)
            if reply is not None and reply[0] != C.SMFIR_CONTINUE:
                return self.outcome([reply], "header")
        reply = self.conn.send_ar(C.SMFIC_EOH)
        if reply[0] != C.SMFIR_CONTINUE:
            return self.outcome([reply], "eoh")
        for start in range(0, len(body), chunk):
            self.sock.sendall(raw_packet(C.SMFIC_BODY, body[start:start + chunk]))
            reply = self.conn.recv()
            if reply[0] not in (C.SMFIR_CONTINUE, C.SMFIR_SKIP):
                return self.outcome([reply], "body")
            if reply[0] == C.SMFIR_SKIP:
                break
        replies = self.conn.send_eom()
        # miltertest counts QUARANTINE as a final reply; in the protocol it is an
        # end-of-message action followed by the real verdict.
        while replies[-1][0] == C.SMFIR_QUARANTINE:
            replies.append(self.conn.recv())
        return self.outcome(replies, "eom")

    def outcome(self, replies, stage):
        out = {"stage": stage, "final": None, "smtp_reply": None,
               "added_headers": [], "quarantine": None, "replies": []}
        for cmd, data in replies:
            name = REPLY_NAMES.get(cmd, cmd)
            out["replies"].append(name)
            if cmd == C.SMFIR_REPLYCODE:
                out["smtp_reply"] = (data["smtpcode"] + " " + data["text"]).strip()
                out["final"] = {"5": "reject", "4": "tempfail"}.get(data["smtpcode"][:1], "replycode")
            elif cmd in (C.SMFIR_ADDHEADER, C.SMFIR_INSHEADER):
                out["added_headers"].append([data["name"], data["value"]])
            elif cmd == C.SMFIR_QUARANTINE:
                out["quarantine"] = data["reason"]
            elif cmd in miltertest.DISPOSITION_REPLIES:
                out["final"] = name
        return out

    def quit(self):
        try:
            self.sock.sendall(raw_packet(C.SMFIC_QUIT, b""))
        finally:
            self.sock.close()


def plain(subject, body_text):
    headers = [
        (b"From", b" Alice <alice@sender.example>"),
        (b"To", b" Bob <bob@recipient.example>"),
        (b"Subject", b" " + subject.encode() + b" [UNCLASSIFIED]"),
        (b"Message-ID", b" <" + subject.encode() + b"@sender.example>"),
        (b"MIME-Version", b" 1.0"),
        (b"Content-Type", b" text/plain; charset=utf-8"),
    ]
    return headers, body_text.encode() + b"\r\n"


def multipart(boundary, parts, close=True):
    body = b"This is a multi-part message in MIME format.\r\n"
    for part in parts:
        body += b"--" + boundary + b"\r\n" + part + b"\r\n"
    if close:
        body += b"--" + boundary + b"--\r\n"
    return body


def mime_headers(subject, content_type):
    headers, _ = plain(subject, "")
    return headers[:-1] + [(b"Content-Type", b" " + content_type)]


def one_message(port, headers, body, chunk=C.MILTER_CHUNK_SIZE):
    c = Conversation(port)
    c.negotiate()
    c.envelope()
    out = c.message(headers, body, chunk)
    c.quit()
    return out


def scenario_clean(port):
    return one_message(port, *plain("clean", "Nothing to see here."))


def scenario_reject(port):
    return one_message(port, *plain("reject", f"Contains {REJECT} in the body."))


def scenario_tag(port):
    return one_message(port, *plain("tag", f"Contains {TAG} in the body."))


def scenario_quarantine(port):
    return one_message(port, *plain("quarantine", f"Contains {QUARANTINE} in the body."))


def scenario_split_chunks(port):
    """The reject string split across two tiny body chunks is still found."""
    headers, body = plain("split", f"xxxxxxxx{REJECT}yyyyyyyy")
    return one_message(port, headers, body, chunk=13)


def scenario_disconnect_mid_body(port):
    """Two clients vanish mid-body (one between chunks, one mid-packet); a third
    conversation must still get its decision."""
    headers, body = plain("gone", "A" * 200000)
    c = Conversation(port)
    c.negotiate()
    c.envelope()
    for name, value in headers:
        c.header(name, value)
    c.conn.send_ar(C.SMFIC_EOH)
    c.sock.sendall(raw_packet(C.SMFIC_BODY, body[:65535]))
    c.conn.recv()
    c.sock.close()

    c = Conversation(port)
    c.negotiate()
    c.envelope()
    for name, value in headers:
        c.header(name, value)
    c.conn.send_ar(C.SMFIC_EOH)
    packet = raw_packet(C.SMFIC_BODY, body[:65535])
    c.sock.sendall(packet[: len(packet) // 2])
    c.sock.close()

    return scenario_reject(port)


def scenario_junk_headers(port):
    headers, body = plain("junk", f"{TAG}")
    headers += [
        (b"X-Junk", b" \x80\x81\xfe\xff bad \xc3\x28 utf-8 \xe9t\xe9"),
        (b"Keywords", b" =?utf-8?B?////?= =?bogus?Q?=ZZ?= \x1b[31m\x07"),
        (b"X-\xff\xfe", b" eight-bit header name"),
        (b"X-Ctl", b" \x01\x02\x03\x7f"),
    ]
    return one_message(port, headers, body)


def scenario_nul_header(port):
    """A NUL inside a header value: the packet then has an extra string. The milter
    may decide or close the connection, but must not die."""
    headers, body = plain("nul", "body")
    headers.append((b"X-Nul", b" before\0after"))
    try:
        return one_message(port, headers, body)
    except (miltertest.MilterError, miltertest.codec.MilterProtoError, OSError) as e:
        return {"stage": "closed", "final": "closed", "error": str(e)}


def scenario_huge_header(port):
    """A 1 MB single-line header: at the top level (one milter packet far above
    the 64 KiB the protocol normally carries) and as a MIME part header."""
    results = {}
    headers, body = plain("huge", "body")
    headers.append((b"X-Huge", b" " + b"h" * (1024 * 1024)))
    try:
        results["top"] = one_message(port, headers, body)
    except (miltertest.MilterError, miltertest.codec.MilterProtoError, OSError) as e:
        results["top"] = {"stage": "closed", "final": "closed", "error": str(e)}
    part = (b"Content-Type: text/plain\r\nX-Huge: " + b"p" * (1024 * 1024) +
            b"\r\n\r\n" + TAG.encode() + b"\r\n")
    results["part"] = one_message(
        port, mime_headers("huge-part", b'multipart/mixed; boundary="b1"'),
        multipart(b"b1", [part]))
    out = results["part"]
    out["top"] = results["top"]
    return out


def scenario_deep_multipart(port):
    depth = 100
    inner = b"Content-Type: text/plain\r\n\r\n" + REJECT.encode() + b"\r\n"
    for level in range(depth - 1, 0, -1):
        b = b"d%d" % level
        inner = (b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n' +
                 multipart(b, [inner]))
    return one_message(port, mime_headers("deep", b'multipart/mixed; boundary="d0"'),
                       multipart(b"d0", [inner]))


def scenario_unterminated_boundary(port):
    parts = [b"Content-Type: text/plain\r\n\r\nfirst part " + TAG.encode(),
             b"Content-Type: text/plain\r\n\r\nsecond part, never closed"]
    return one_message(port, mime_headers("unterminated", b'multipart/mixed; boundary="u1"'),
                       multipart(b"u1", parts, close=False))


def scenario_broken_base64(port):
    parts = [b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             b"U0dFLU1JTFRFUi1URVNULVRBRy0yQTZFMA==\r\n"
             b"!!!!not base64 at all\x00\xff@@@@\r\nQUJD=RA==\r\nQ\r\n",
             b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=\"x.bin\"\r\n\r\n====AAA\r\n"]
    return one_message(port, mime_headers("b64", b'multipart/mixed; boundary="x1"'),
                       multipart(b"x1", parts))


SCENARIOS = {
    name[len("scenario_"):].replace("_", "-"): fn
    for name, fn in globals().items() if name.startswith("scenario_")
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("scenario", nargs="+", choices=sorted(SCENARIOS))
    args = ap.parse_args()
    for name in args.scenario:
        out = SCENARIOS[name](args.port)
        out["scenario"] = name
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent reader of DMARC aggregate reports for the tests (stdlib only:
email, gzip, xml.etree). Each argument is a report mail (.eml) or a bare .xml.gz;
prints one JSON object per file with the mail's Subject, To and attachment name
(for mails) and the report's metadata and rows."""
import email
import email.policy
import gzip
import json
import sys
import xml.etree.ElementTree as ET


def local(tag):
    return tag.rsplit("}", 1)[-1]


def find(node, path):
    """Child by local-name path, ignoring any XML namespace."""
    for step in path.split("/"):
        node = next((c for c in node if local(c.tag) == step), None)
        if node is None:
            return None
    return node


def text(node, path):
    n = find(node, path)
    return None if n is None else (n.text or "").strip()


def read_xml(data):
    root = ET.fromstring(gzip.decompress(data))
    assert local(root.tag) == "feedback", root.tag
    rows = []
    for rec in (c for c in root if local(c.tag) == "record"):
        rows.append({
            "source_ip": text(rec, "row/source_ip"),
            "count": int(text(rec, "row/count")),
            "disposition": text(rec, "row/policy_evaluated/disposition"),
            "dkim": text(rec, "row/policy_evaluated/dkim"),
            "spf": text(rec, "row/policy_evaluated/spf"),
            "header_from": text(rec, "identifiers/header_from"),
        })
    return {
        "org_name": text(root, "report_metadata/org_name"),
        "email": text(root, "report_metadata/email"),
        "report_id": text(root, "report_metadata/report_id"),
        "begin": int(text(root, "report_metadata/date_range/begin")),
        "end": int(text(root, "report_metadata/date_range/end")),
        "domain": text(root, "policy_published/domain"),
        "p": text(root, "policy_published/p"),
        "rows": rows,
    }


def read_mail(data):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    parts = [p for p in msg.walk() if p.get_content_type() == "application/gzip"]
    assert len(parts) == 1, "one gzip attachment"
    out = read_xml(parts[0].get_payload(decode=True))
    out.update({
        "subject": str(msg["Subject"]),
        "to": str(msg["To"]),
        "from": str(msg["From"]),
        "filename": parts[0].get_filename(),
    })
    return out


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    report = read_xml(data) if path.endswith(".xml.gz") else read_mail(data)
    report["file"] = path
    print(json.dumps(report))

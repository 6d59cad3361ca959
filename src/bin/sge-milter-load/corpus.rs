//! A generated corpus: sizes from 2 KB to 2 MB (most small, a long tail), plain and
//! multipart with base64 attachments, marked and unmarked, some with DLP hits,
//! inbound and outbound, some DKIM-signed with a test key.
//!
//! Deterministic from a seed (xorshift, hand-written: three lines, and the corpus
//! must be the same for every milter measured in one run).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sge_milter::auth::sign::Signer;
use sge_milter::config::auth::{DEFAULT_SIGN_HEADERS, DkimKeyConfig};
use std::path::PathBuf;

/// What to generate.
#[derive(Clone, Debug)]
pub struct CorpusSpec {
    pub count: usize,
    pub seed: u64,
    /// From domain of every message (publish SPF/DKIM/DMARC for it to test auth).
    pub domain: String,
    /// Percentage of messages from a trusted (loopback) client: outbound.
    pub outbound_percent: u32,
    /// DKIM key to sign about half of the messages with.
    pub sign: Option<SignKey>,
    /// Every message this size (body bytes) instead of the 2 KB-2 MB spread.
    pub fixed_size: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct SignKey {
    pub key_file: PathBuf,
    pub selector: String,
}

/// One message as the MTA hands it to a milter.
pub struct Message {
    pub client_ip: String,
    pub mail_from: String,
    pub rcpts: Vec<String>,
    /// Name and value (LF-folded, no leading space: the client adds it).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// Bytes on the wire: headers and body.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>()
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn percent(&mut self, p: u32) -> bool {
        self.below(100) < u64::from(p)
    }
}

const WORDS: &[&str] = &[
    "the",
    "ministry",
    "report",
    "budget",
    "review",
    "agency",
    "policy",
    "meeting",
    "draft",
    "council",
    "regional",
    "health",
    "transport",
    "minutes",
    "attached",
    "please",
    "find",
    "update",
    "project",
    "schedule",
    "of",
    "and",
    "for",
    "with",
];

/// Body size: 60% 2-20 KB, 30% 20-200 KB, 10% 200 KB-2 MB, log-uniform in each band
/// (mean about 110 KB, like a government gateway's mix).
fn pick_size(rng: &mut Rng) -> usize {
    let (lo, hi): (f64, f64) = match rng.below(10) {
        0..=5 => (2e3, 2e4),
        6..=8 => (2e4, 2e5),
        _ => (2e5, 2e6),
    };
    let u = rng.below(1_000_000) as f64 / 1e6;
    (lo * (hi / lo).powf(u)) as usize
}

/// About `bytes` of the corpus's word text, CRLF lines, from `seed`.
pub fn words(seed: u64, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 80);
    text(&mut Rng(seed | 1), bytes, &mut out);
    out
}

fn text(rng: &mut Rng, bytes: usize, out: &mut String) {
    let start = out.len();
    let mut line = 0;
    while out.len() - start < bytes {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        out.push_str(w);
        line += w.len() + 1;
        if line > 70 {
            out.push_str("\r\n");
            line = 0;
        } else {
            out.push(' ');
        }
    }
    out.push_str("\r\n");
}

pub fn base64_lines(data: &[u8], out: &mut String) {
    let b64 = STANDARD.encode(data);
    for line in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push_str("\r\n");
    }
}

fn body(rng: &mut Rng, size: usize, dlp: bool) -> (Option<String>, String) {
    let mut text_part = String::new();
    if dlp {
        text_part.push_str("Card on file 4111 1111 1111 1111 exp 12/29, IRD 49-091-850.\r\n");
    }
    if size < 8_000 || rng.percent(40) {
        text(rng, size, &mut text_part);
        return (None, text_part);
    }
    // multipart: a short text part and an attachment carrying the rest.
    text(rng, 1500, &mut text_part);
    let boundary = format!("b{:016x}", rng.next());
    let mut b = format!(
        "This is a multi-part message in MIME format.\r\n--{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{text_part}--{boundary}\r\n"
    );
    let raw_len = (size * 3 / 4).saturating_sub(1500);
    if rng.percent(50) {
        let mut csv = String::new();
        text(rng, raw_len, &mut csv);
        b.push_str(
            "Content-Type: text/csv; name=\"data.csv\"\r\n\
             Content-Disposition: attachment; filename=\"data.csv\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n",
        );
        base64_lines(csv.as_bytes(), &mut b);
    } else {
        let data: Vec<u8> = (0..raw_len / 8)
            .flat_map(|_| rng.next().to_le_bytes())
            .collect();
        b.push_str(
            "Content-Type: application/octet-stream; name=\"blob.bin\"\r\n\
             Content-Disposition: attachment; filename=\"blob.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n",
        );
        base64_lines(&data, &mut b);
    }
    b.push_str(&format!("--{boundary}--\r\n"));
    (Some(boundary), b)
}

/// Generates the corpus. Errors only when the signing key cannot be loaded.
pub fn generate(spec: &CorpusSpec) -> Result<Vec<Message>, String> {
    let signer = match &spec.sign {
        Some(k) => {
            let cfg = DkimKeyConfig {
                domain: spec.domain.clone(),
                selector: k.selector.clone(),
                key_file: k.key_file.clone(),
            };
            let headers: Vec<String> = DEFAULT_SIGN_HEADERS.iter().map(|s| s.to_string()).collect();
            let dir = std::path::Path::new("");
            Some(Signer::load(&[cfg], &headers, dir).map_err(|e| {
                let text: Vec<String> = e.iter().map(|(f, e)| format!("{f}: {e}")).collect();
                text.join("; ")
            })?)
        }
        None => None,
    };
    let mut rng = Rng(spec.seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..spec.count)
        .map(|i| one(&mut rng, spec, i, signer.as_ref()))
        .collect()
}

fn one(
    rng: &mut Rng,
    spec: &CorpusSpec,
    i: usize,
    signer: Option<&Signer>,
) -> Result<Message, String> {
    let size = spec.fixed_size.unwrap_or_else(|| pick_size(rng));
    let outbound = rng.percent(spec.outbound_percent);
    let dlp = rng.percent(10);
    let marked = rng.percent(70);
    let from = format!("user{}@{}", i % 50, spec.domain);
    let (boundary, body) = body(rng, size, dlp);
    let mut headers: Vec<(String, String)> = vec![
        ("From".into(), format!("Sender {i} <{from}>")),
        ("To".into(), "recipient@agency.govt.nz".into()),
        ("Date".into(), "Wed, 02 Dec 2026 10:00:00 +1300".into()),
        (
            "Message-ID".into(),
            format!("<load{i}.{}@{}>", spec.seed, spec.domain),
        ),
        ("MIME-Version".into(), "1.0".into()),
    ];
    if marked {
        headers.push((
            "Subject".into(),
            format!("Load test {i} [SEC=UNCLASSIFIED]"),
        ));
        headers.push((
            "X-Protective-Marking".into(),
            format!("VER=2018.1, NS=govt.nz, SEC=UNCLASSIFIED, ORIGIN={from}"),
        ));
    } else {
        headers.push(("Subject".into(), format!("Load test {i}")));
    }
    headers.push((
        "Content-Type".into(),
        match boundary {
            Some(b) => format!("multipart/mixed;\n\tboundary=\"{b}\""),
            None => "text/plain; charset=utf-8".into(),
        },
    ));
    let body = body.into_bytes();
    if let Some(signer) = signer
        && rng.percent(50)
    {
        let mut raw = Vec::with_capacity(body.len() + 1024);
        for (n, v) in &headers {
            raw.extend_from_slice(format!("{n}: {}\r\n", v.replace('\n', "\r\n")).as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(&body);
        let sigs = signer.sign(&raw, &spec.domain).map_err(|e| e.to_string())?;
        for (v, _) in sigs.into_iter().rev() {
            headers.insert(0, ("DKIM-Signature".into(), v.replace("\r\n", "\n")));
        }
    }
    Ok(Message {
        client_ip: if outbound {
            "127.0.0.1".into()
        } else {
            format!("192.0.2.{}", 10 + i % 20)
        },
        mail_from: from,
        rcpts: vec!["recipient@agency.govt.nz".into()],
        headers,
        body,
    })
}

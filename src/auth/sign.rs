//! Outbound DKIM signing with keys read from files at configuration load.
//!
//! The body hash is computed as the body streams in ([`SigningBodyHash`], our relaxed
//! canonicalization), so end of message, after every other check has passed, signs
//! the header block and that hash without reading the body again
//! ([`Signer::sign_streamed`]). Messages whose header block could not be parsed at
//! end of headers keep their body and are signed from the kept chunks through
//! mail-auth's streaming signer ([`Signer::sign_chunks`]).

use super::body_hash::SigningBodyHash;
use super::report::SignedWith;
use super::signing_key::{DkimSigningKey, RsaSigningKey};
use crate::config::auth::DkimKeyConfig;
use crate::domain::{DomainSet, normalize};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::crypto::SigningKey;
use mail_auth::common::headers::{HeaderWriter, Writable, Writer};
use mail_auth::dkim::canonicalize::CanonicalHeaders;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done, Signature};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use std::path::Path;

/// Smallest RSA key accepted (RFC 8301 says 1024; SGE and current practice: 2048).
pub const MIN_RSA_BITS: usize = 2048;

struct Key {
    domain: String,
    selector: String,
    algorithm: &'static str,
    signer: DkimSigner<DkimSigningKey, Done>,
}

/// Every configured signing key.
#[derive(Default)]
pub struct Signer {
    keys: Vec<Key>,
    /// The domains of `keys`: a From domain is signed by its most specific one.
    domains: DomainSet,
}

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

impl Signer {
    /// Loads every key; `base_dir` resolves relative paths.
    pub fn load(
        entries: &[DkimKeyConfig],
        headers: &[String],
        base_dir: &Path,
    ) -> Result<Signer, Vec<(String, KeyError)>> {
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        for e in entries {
            let path = base_dir.join(&e.key_file);
            match load_key(&path) {
                Ok((key, algorithm)) => {
                    let domain = normalize(&e.domain);
                    let signer = DkimSigner::from_key(key)
                        .domain(domain.clone())
                        .selector(e.selector.clone())
                        .headers(headers.iter().cloned())
                        .header_canonicalization(Canonicalization::Relaxed)
                        .body_canonicalization(Canonicalization::Relaxed);
                    keys.push(Key {
                        domain,
                        selector: e.selector.clone(),
                        algorithm,
                        signer,
                    });
                }
                Err(err) => errors.push((e.key_file.display().to_string(), err)),
            }
        }
        if errors.is_empty() {
            let domains = DomainSet::from_names(keys.iter().map(|k| k.domain.as_str()));
            Ok(Signer { keys, domains })
        } else {
            Err(errors)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key exists for `domain` (exactly, or for a parent domain).
    pub fn signs_for(&self, domain: &str) -> bool {
        self.domain_for(domain).is_some()
    }

    /// The most specific configured domain covering `domain`.
    fn domain_for(&self, domain: &str) -> Option<&str> {
        self.domains.longest_match(domain).map(|(d, _)| d)
    }

    /// Signs `raw` with every key of the domain covering `from_domain`. Returns the
    /// `DKIM-Signature` values (CRLF-folded, without the name) in the order they
    /// should appear from the top, or `Ok(empty)` when no key covers the domain.
    pub fn sign(
        &self,
        raw: &[u8],
        from_domain: &str,
    ) -> Result<Vec<(String, SignedWith)>, KeyError> {
        self.sign_with(from_domain, |signer| signer.sign(raw))
    }

    /// [`Signer::sign`] over a message held in pieces (header block, body chunks),
    /// fed through mail-auth's streaming signer: nothing is joined into one buffer.
    pub fn sign_chunks<'a>(
        &self,
        raw: impl Iterator<Item = &'a [u8]> + Clone,
        from_domain: &str,
    ) -> Result<Vec<(String, SignedWith)>, KeyError> {
        self.sign_with(from_domain, |signer| {
            let mut stream = signer.sign_streaming();
            raw.clone().for_each(|chunk| stream.write(chunk));
            stream.finish()
        })
    }

    /// [`Signer::sign`] from the header block's fields (name, value as
    /// mail-auth's header scanner splits them, in order) and the body hash computed
    /// as the body streamed in: the body is not read again.
    pub fn sign_streamed(
        &self,
        headers: &[(&[u8], &[u8])],
        body: SigningBodyHash,
        from_domain: &str,
    ) -> Result<Vec<(String, SignedWith)>, KeyError> {
        let (bh, body_len) = body.finish();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.sign_with(from_domain, |signer| {
            sign_with_body_hash(signer, headers, &bh, body_len, now)
        })
    }

    fn sign_with(
        &self,
        from_domain: &str,
        sign: impl Fn(&DkimSigner<DkimSigningKey, Done>) -> mail_auth::Result<Signature>,
    ) -> Result<Vec<(String, SignedWith)>, KeyError> {
        let Some(domain) = self.domain_for(from_domain) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for k in self.keys.iter().filter(|k| k.domain == domain) {
            let sig = sign(&k.signer)
                .map_err(|e| KeyError(format!("DKIM signing for {domain} failed: {e}")))?;
            let header = sig.to_header();
            let value = header
                .strip_prefix("DKIM-Signature:")
                .unwrap_or(&header)
                .trim_start_matches(' ')
                .trim_end_matches("\r\n")
                .to_string();
            out.push((
                value,
                SignedWith {
                    domain: k.domain.clone(),
                    selector: k.selector.clone(),
                    algorithm: k.algorithm,
                },
            ));
        }
        Ok(out)
    }
}

/// mail-auth's `DkimSigningStream::finish_with_parsed_data` (0.13), assembled here
/// from its public pieces: mail-auth has no call that signs with a body hash computed
/// elsewhere, and hashing the body as it streams in takes a whole-body pass out of
/// end of message. Step for step the same (the tests compare the bytes with
/// `DkimSigner::sign`): the configured headers present, in message order; `h=`
/// lists them bottom-up, then every configured name not found (or configured more
/// often than present, so it cannot be added later); `t=`, `x=` relative to it,
/// `l=` when asked for; then the key signs the canonical headers and the
/// signature without its `b=` value.
fn sign_with_body_hash(
    signer: &DkimSigner<DkimSigningKey, Done>,
    headers: &[(&[u8], &[u8])],
    bh: &[u8],
    body_len: u64,
    now: u64,
) -> mail_auth::Result<Signature> {
    let template = &signer.template;
    let mut picked = Vec::with_capacity(template.h.len());
    let mut found = vec![false; template.h.len()];
    let mut signed = Vec::with_capacity(template.h.len());
    for &(name, value) in headers {
        if let Some(pos) = template
            .h
            .iter()
            .position(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        {
            picked.push((name, value));
            found[pos] = true;
            signed.push(std::str::from_utf8(name).unwrap_or_default().to_string());
        }
    }
    if signed.is_empty() {
        return Err(mail_auth::Error::NoHeadersFound);
    }
    signed.reverse();
    for (name, found) in template.h.iter().zip(found) {
        if !found {
            signed.push(name.clone());
        }
    }
    let mut signature = template.clone();
    signature.bh = bh.to_vec();
    signature.t = now;
    signature.x = if signature.x > 0 {
        now + signature.x
    } else {
        0
    };
    signature.h = signed;
    if signature.l > 0 {
        signature.l = body_len;
    }
    signature.b = signer.key.sign(Signable {
        headers: template.ch.canonical_headers(picked),
        signature: &signature,
    })?;
    Ok(signature)
}

/// What the key signs: mail-auth's `SignableMessage`, which is not public.
struct Signable<'a> {
    headers: CanonicalHeaders<'a>,
    signature: &'a Signature,
}

impl Writable for Signable<'_> {
    fn write(self, writer: &mut impl Writer) {
        self.headers.write(writer);
        self.signature.write(writer, false);
    }
}

/// Reads a PEM private key: Ed25519 (PKCS#8) or RSA (PKCS#1/PKCS#8, >= 2048 bits).
pub fn load_key(path: &Path) -> Result<(DkimSigningKey, &'static str), KeyError> {
    let pem = std::fs::read(path)
        .map_err(|e| KeyError(format!("cannot read DKIM key {}: {e}", path.display())))?;
    let der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| KeyError(format!("{} is not a PEM private key: {e}", path.display())))?;
    // ring reads PKCS#8 v2 (with the public key, as `dkim-keygen` writes) strictly;
    // OpenSSL's `genpkey -algorithm ed25519` writes v1, which only the lenient
    // reader takes.
    if let PrivateKeyDer::Pkcs8(p8) = &der
        && let Ok(k) = Ed25519Key::from_pkcs8_der(p8.secret_pkcs8_der())
            .or_else(|_| Ed25519Key::from_pkcs8_maybe_unchecked_der(p8.secret_pkcs8_der()))
    {
        return Ok((DkimSigningKey::Ed25519(k), "ed25519-sha256"));
    }
    let bits = rsa_bits(&der).ok_or_else(|| {
        KeyError(format!(
            "{} is neither an Ed25519 nor an RSA private key",
            path.display()
        ))
    })?;
    if bits < MIN_RSA_BITS {
        return Err(KeyError(format!(
            "{}: RSA key has {bits} bits; at least {MIN_RSA_BITS} are required",
            path.display()
        )));
    }
    let key = RsaSigningKey::from_der(der.secret_der())
        .map_err(|e| KeyError(format!("{}: {e}", path.display())))?;
    Ok((DkimSigningKey::Rsa(key), "rsa-sha256"))
}

fn rsa_bits(der: &PrivateKeyDer<'_>) -> Option<usize> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = match der {
        PrivateKeyDer::Pkcs1(k) => rsa::RsaPrivateKey::from_pkcs1_der(k.secret_pkcs1_der()).ok()?,
        PrivateKeyDer::Pkcs8(k) => rsa::RsaPrivateKey::from_pkcs8_der(k.secret_pkcs8_der()).ok()?,
        _ => return None,
    };
    Some(key.size() * 8)
}

#[cfg(test)]
mod tests {
    use super::super::body_hash::tests::Gen;
    use super::*;

    /// A tag's value with white space removed.
    fn field(v: &str, tag: &str) -> Option<String> {
        let v: String = v.split_whitespace().collect();
        v.split(';')
            .find_map(|t| t.strip_prefix(tag).map(str::to_string))
    }

    /// Signing the header block and body chunks gives the signature of the same
    /// message in one piece.
    #[test]
    fn chunked_message_signs_like_the_whole_message() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ed.pem"), openssl_style_ed25519_pem()).unwrap();
        let entry = DkimKeyConfig {
            domain: "a.test".into(),
            selector: "s".into(),
            key_file: "ed.pem".into(),
        };
        let headers = vec!["from".to_string(), "subject".to_string()];
        let signer =
            Signer::load(&[entry], &headers, dir.path()).unwrap_or_else(|_| panic!("key loads"));
        let head = b"From: a@a.test\r\nSubject: x\r\n\r\n".as_slice();
        let body = b"line one  \r\n\r\nline\ttwo\r\n\r\n\r\n".as_slice();
        let whole = [head, body].concat();
        let (one, _) = signer.sign(&whole, "a.test").unwrap().remove(0);
        for size in [1, 3, 8, body.len()] {
            let chunks = std::iter::once(head).chain(body.chunks(size));
            let (v, _) = signer.sign_chunks(chunks, "a.test").unwrap().remove(0);
            assert_eq!(field(&v, "bh="), field(&one, "bh="), "size {size}");
            assert_eq!(field(&v, "h="), field(&one, "h="));
        }
    }

    fn pem(der: &[u8]) -> String {
        use base64::Engine as _;
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    }

    /// Two keys for `a.test` (RSA and Ed25519, both fresh) and one Ed25519 key for
    /// `b.test`, signing the default headers plus `Received`.
    fn three_keys(dir: &Path) -> Signer {
        use aws_lc_rs::encoding::AsDer;
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let rsa: aws_lc_rs::encoding::Pkcs8V1Der = rsa.as_der().unwrap();
        std::fs::write(dir.join("rsa.pem"), pem(rsa.as_ref())).unwrap();
        for name in ["ed.pem", "ed2.pem"] {
            let der = Ed25519Key::generate_pkcs8().unwrap();
            std::fs::write(dir.join(name), pem(&der)).unwrap();
        }
        let entry = |domain: &str, selector: &str, file: &str| DkimKeyConfig {
            domain: domain.into(),
            selector: selector.into(),
            key_file: file.into(),
        };
        let entries = [
            entry("a.test", "r", "rsa.pem"),
            entry("a.test", "e", "ed.pem"),
            entry("b.test", "e", "ed2.pem"),
        ];
        let mut headers: Vec<String> = crate::config::auth::DEFAULT_SIGN_HEADERS
            .iter()
            .map(|h| h.to_string())
            .collect();
        headers.push("Received".into());
        Signer::load(&entries, &headers, dir).unwrap_or_else(|_| panic!("keys load"))
    }

    /// A header block: From always, the other fields (signed or not, some twice,
    /// some folded or with white-space runs) at random, in random order.
    fn header_block(g: &mut Gen) -> Vec<u8> {
        const FIELDS: [&str; 10] = [
            "To: b@b.test\r\n",
            "To:  c@c.test ,\r\n\t d@d.test\r\n",
            "Received: from x by y; Tue, 1 Dec 2026 10:00:00 +0000\r\n",
            "Received: from  y\r\n  by z\t ; Tue, 1 Dec 2026 10:00:01 +0000\r\n",
            "Subject: a  subject \t with   runs \r\n",
            "Date: Tue, 1 Dec 2026 10:00:02 +0000\r\n",
            "Message-ID: <1@a.test>\r\n",
            "X-Other: not signed\r\n",
            "MIME-Version: 1.0\r\n",
            "content-type: text/plain;\r\n charset=utf-8\r\n",
        ];
        let mut fields = vec!["From:  A  Person\t<a@x.a.test>\r\n"];
        for _ in 0..g.below(8) {
            fields.push(FIELDS[g.below(FIELDS.len())]);
        }
        for i in (1..fields.len()).rev() {
            fields.swap(i, g.below(i + 1));
        }
        let mut head = fields.concat().into_bytes();
        head.extend_from_slice(b"\r\n");
        head
    }

    /// The signatures of `head` + `body` fed in `chunks` through the streamed path.
    fn streamed(signer: &Signer, head: &[u8], chunks: &[&[u8]]) -> Vec<(String, SignedWith)> {
        let msg = mail_auth::AuthenticatedMessage::parse(head).expect("header block parses");
        let mut body = SigningBodyHash::default();
        chunks.iter().for_each(|c| body.write(c));
        signer
            .sign_streamed(&msg.headers, body, "x.a.test")
            .unwrap()
    }

    /// Property: over generated messages and chunkings, the signatures made from the
    /// streamed body hash are byte for byte mail-auth's `DkimSigner::sign` of the
    /// whole message, for both keys of the domain (RSA PKCS#1 v1.5 and Ed25519 are
    /// deterministic; both taken in the same second).
    #[test]
    fn streamed_signatures_equal_mail_auths_over_generated_messages() {
        let dir = tempfile::tempdir().unwrap();
        let signer = three_keys(dir.path());
        let mut g = Gen(0x0dd5_eed5_1234_5678);
        let fixed: [&[u8]; 5] = [
            b"",
            b"no final line break",
            b"text\r\n\r\n\r\n\r\n",
            b"  \t \r\n \r\n",
            b"runs  of \t white\t\tspace  \r\nand more   \r\n",
        ];
        for round in 0..120 {
            let head = header_block(&mut g);
            let body = match fixed.get(round) {
                Some(b) => b.to_vec(),
                None => g.body(),
            };
            let whole = [head.as_slice(), &body].concat();
            let mut chunkings: Vec<Vec<&[u8]>> = vec![vec![&body], body.chunks(1).collect()];
            let mut at = 0;
            let mut cut = Vec::new();
            for c in g.cuts(body.len()) {
                cut.push(&body[at..c]);
                at = c;
            }
            cut.push(&body[at..]);
            chunkings.push(cut);
            for chunks in chunkings {
                let (ours, theirs) = (0..5)
                    .map(|_| {
                        let ours = streamed(&signer, &head, &chunks);
                        let theirs = signer.sign(&whole, "x.a.test").unwrap();
                        (ours, theirs)
                    })
                    .find(|(o, t)| {
                        let mut ts = o.iter().chain(t).map(|(v, _)| field(v, "t="));
                        let first = ts.next().flatten();
                        ts.all(|t| t == first)
                    })
                    .expect("signed within one second");
                assert_eq!(ours.len(), 2);
                let names = |v: &[(String, SignedWith)]| -> Vec<String> {
                    v.iter().map(|(_, w)| w.selector.clone()).collect()
                };
                assert_eq!(names(&ours), ["r", "e"]);
                assert_eq!(names(&ours), names(&theirs));
                for ((o, _), (t, _)) in ours.iter().zip(&theirs) {
                    assert_eq!(o, t, "round {round} {chunks:?}");
                }
            }
        }
    }

    /// No key for the From domain: nothing is signed (and nothing is hashed for it).
    #[test]
    fn streamed_signing_without_a_key_signs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let signer = three_keys(dir.path());
        let msg = mail_auth::AuthenticatedMessage::parse(b"From: a@c.test\r\n\r\n").unwrap();
        let sigs = signer
            .sign_streamed(&msg.headers, SigningBodyHash::default(), "c.test")
            .unwrap();
        assert!(sigs.is_empty());
        // A message without any signed header is an error, as for mail-auth.
        let msg = mail_auth::AuthenticatedMessage::parse(b"X-A: 1\r\n\r\n").unwrap();
        let err = signer.sign_streamed(&msg.headers, SigningBodyHash::default(), "b.test");
        assert!(err.is_err());
    }

    /// An Ed25519 key as `openssl genpkey -algorithm ed25519` writes it (PKCS#8 v1,
    /// no public key) loads and signs.
    #[test]
    fn loads_an_openssl_style_pkcs8_v1_ed25519_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ed.pem");
        std::fs::write(&path, openssl_style_ed25519_pem()).unwrap();
        let (_, alg) = load_key(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(alg, "ed25519-sha256");
    }

    /// A fixed Ed25519 key in PKCS#8 v1 PEM (no public key), as `openssl genpkey
    /// -algorithm ed25519` writes it. Written here rather than with `auth::keygen`,
    /// which imports this module.
    fn openssl_style_ed25519_pem() -> String {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&[7u8; 32]);
        use base64::Engine as _;
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        )
    }
}

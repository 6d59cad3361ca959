//! Outbound DKIM signing with keys read from files at configuration load.
//!
//! The signature is computed at end of message over the kept message (headers
//! CRLF-folded as received, then the body chunks as the MTA sent them, never copied
//! into one buffer), after every other check has passed. mail-auth's streaming
//! signer borrows its key for the stream's life, which a per-message state shared
//! across milter callbacks cannot hold; hashing the kept chunks at the end costs one
//! pass.

use super::report::SignedWith;
use super::signing_key::{DkimSigningKey, RsaSigningKey};
use crate::config::auth::DkimKeyConfig;
use crate::domain::{DomainSet, normalize};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
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
    use super::*;

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
        let field = |v: &str, tag: &str| {
            let v: String = v.split_whitespace().collect();
            v.split(';')
                .find_map(|t| t.strip_prefix(tag).map(str::to_string))
        };
        let (one, _) = signer.sign(&whole, "a.test").unwrap().remove(0);
        for size in [1, 3, 8, body.len()] {
            let chunks = std::iter::once(head).chain(body.chunks(size));
            let (v, _) = signer.sign_chunks(chunks, "a.test").unwrap().remove(0);
            assert_eq!(field(&v, "bh="), field(&one, "bh="), "size {size}");
            assert_eq!(field(&v, "h="), field(&one, "h="));
        }
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

//! `sge-milter dkim-keygen`: makes a signing key and the DNS TXT record to publish.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mail_auth::common::crypto::Ed25519Key;

/// Key types `dkim-keygen` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa(usize),
    Ed25519,
}

/// A new key: the PEM to keep secret and the TXT record to publish.
pub struct GeneratedKey {
    pub private_pem: String,
    /// The TXT record's text (`v=DKIM1; k=...; p=...`).
    pub txt: String,
}

/// Makes a key pair.
pub fn generate(alg: KeyAlgorithm) -> Result<GeneratedKey, String> {
    match alg {
        KeyAlgorithm::Rsa(bits) => {
            use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
            if bits < super::sign::MIN_RSA_BITS {
                return Err(format!(
                    "RSA keys need at least {} bits",
                    super::sign::MIN_RSA_BITS
                ));
            }
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
                .map_err(|e| e.to_string())?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| e.to_string())?;
            let public = rsa::RsaPublicKey::from(&key)
                .to_public_key_der()
                .map_err(|e| e.to_string())?;
            Ok(GeneratedKey {
                private_pem: pem.to_string(),
                txt: format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(public.as_bytes())),
            })
        }
        KeyAlgorithm::Ed25519 => {
            let der = Ed25519Key::generate_pkcs8().map_err(|e| e.to_string())?;
            let key = Ed25519Key::from_pkcs8_der(&der).map_err(|e| e.to_string())?;
            Ok(GeneratedKey {
                private_pem: pem_wrap("PRIVATE KEY", &der),
                txt: format!(
                    "v=DKIM1; k=ed25519; p={}",
                    STANDARD.encode(key.public_key())
                ),
            })
        }
    }
}

fn pem_wrap(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The zone-file line for `selector._domainkey.domain`, the text split into
/// strings of at most 255 characters as DNS requires.
pub fn zone_line(domain: &str, selector: &str, txt: &str) -> String {
    let strings: Vec<String> = txt
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!(
        "{selector}._domainkey.{}. IN TXT ( {} )",
        domain.trim_end_matches('.'),
        strings.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_key_loads_back_and_zone_line_splits() {
        let k = generate(KeyAlgorithm::Ed25519).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        std::fs::write(&p, &k.private_pem).unwrap();
        let (_, alg) = crate::auth::sign::load_key(&p).unwrap();
        assert_eq!(alg, "ed25519-sha256");
        let line = zone_line("example.org", "s1", &"a".repeat(300));
        assert!(line.starts_with("s1._domainkey.example.org. IN TXT ( \""));
        assert_eq!(line.matches('"').count(), 4);
        assert!(generate(KeyAlgorithm::Rsa(1024)).is_err());
    }
}

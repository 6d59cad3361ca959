//! The private keys DKIM signatures are made with.
//!
//! RSA signatures are made with aws-lc-rs rather than mail-auth's `ring` backend:
//! an RSA-2048 private-key operation is the single largest cost of an outbound
//! message, and AWS-LC has an AVX-512 IFMA path for it that ring lacks (about
//! 1.7x faster on the machines we measured; PKCS#1 v1.5 signatures are
//! deterministic, so both give the same bytes, see the test below). Ed25519 and
//! the message hashing stay with mail-auth.

use mail_auth::Error;
use mail_auth::common::crypto::{Algorithm, CryptoError, Ed25519Key, Sha256, SigningKey};
use mail_auth::common::headers::Writable;

/// An RSA private key signing rsa-sha256 with aws-lc-rs.
pub struct RsaSigningKey {
    inner: aws_lc_rs::rsa::KeyPair,
    rng: aws_lc_rs::rand::SystemRandom,
}

impl RsaSigningKey {
    /// Reads a PKCS#1 or PKCS#8 DER private key.
    pub fn from_der(der: &[u8]) -> Result<RsaSigningKey, String> {
        let inner = aws_lc_rs::rsa::KeyPair::from_der(der)
            .or_else(|_| aws_lc_rs::rsa::KeyPair::from_pkcs8(der))
            .map_err(|e| format!("not a usable RSA private key: {e}"))?;
        Ok(RsaSigningKey {
            inner,
            rng: aws_lc_rs::rand::SystemRandom::new(),
        })
    }
}

impl SigningKey for RsaSigningKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        let mut data = Vec::with_capacity(512);
        input.write(&mut data);
        let mut signature = vec![0; self.inner.public_modulus_len()];
        self.inner
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &self.rng,
                &data,
                &mut signature,
            )
            .map_err(|e| Error::Crypto(CryptoError::Library(e.to_string())))?;
        Ok(signature)
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::RsaSha256
    }
}

/// A configured DKIM signing key.
pub enum DkimSigningKey {
    Rsa(RsaSigningKey),
    Ed25519(Ed25519Key),
}

impl SigningKey for DkimSigningKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        match self {
            DkimSigningKey::Rsa(key) => key.sign(input),
            DkimSigningKey::Ed25519(key) => key.sign(input),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            DkimSigningKey::Rsa(key) => key.algorithm(),
            DkimSigningKey::Ed25519(key) => key.algorithm(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::crypto::RsaKey;
    use rustls_pki_types::PrivateKeyDer;

    /// aws-lc-rs and mail-auth's ring key give the same PKCS#1 v1.5 signature.
    #[test]
    fn rsa_signature_equals_the_ring_signature() {
        use aws_lc_rs::encoding::AsDer;
        let generated =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der: aws_lc_rs::encoding::Pkcs8V1Der = generated.as_der().unwrap();
        let ours = RsaSigningKey::from_der(der.as_ref()).unwrap();
        let ring =
            RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der.as_ref().to_vec().into()))
                .unwrap();
        let data = b"dkim-signature:v=1; a=rsa-sha256; d=a.test; s=s; bh=x; b=".as_slice();
        assert_eq!(ours.sign(data).unwrap(), ring.sign(data).unwrap());
        assert_eq!(ours.algorithm(), Algorithm::RsaSha256);
        assert!(RsaSigningKey::from_der(b"not a key").is_err());
    }
}

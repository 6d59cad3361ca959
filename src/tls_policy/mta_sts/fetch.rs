//! Fetching `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3): the
//! certificate must verify for that host name, no redirects are followed, only a 200
//! `text/plain` answer of at most 64 KiB counts.

use super::policy::{MAX_POLICY_SIZE, Policy, PolicyError};
use crate::spf_eval::SpfDns;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Why a fetch failed; [`FetchError::kind`] is the `mta_sts_fetches_total` label.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot resolve {0}")]
    Dns(String),
    #[error("cannot connect to {host}: {error}")]
    Connect { host: String, error: String },
    #[error("TLS with {host} failed: {error}")]
    Tls { host: String, error: String },
    #[error("HTTP error: {0}")]
    Http(String),
    #[error("invalid policy: {0}")]
    Invalid(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl FetchError {
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Dns(_) => "dns",
            FetchError::Connect { .. } => "connect",
            FetchError::Tls { .. } => "tls",
            FetchError::Http(_) => "http",
            FetchError::Invalid(_) => "invalid",
            FetchError::Timeout(_) => "timeout",
        }
    }
}

impl From<PolicyError> for FetchError {
    fn from(e: PolicyError) -> Self {
        FetchError::Invalid(e.to_string())
    }
}

/// An HTTPS client for policy files. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    tls: TlsConnector,
    timeout: Duration,
}

impl Fetcher {
    /// Trusts the system store plus the PEM certificates of `ca_file`.
    pub fn new(ca_file: Option<&Path>, timeout: Duration) -> Result<Fetcher, String> {
        let mut roots = rustls::RootCertStore::empty();
        // A system store that cannot be read is not fatal when ca_file is given.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("ca_file {} holds no certificate", path.display()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            }
        }
        if roots.is_empty() {
            return Err("no trusted certificate authority (system store empty, no ca_file)".into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Fetcher {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// Fetches and parses the policy of `domain`, all within the fetch timeout.
    pub async fn fetch<D: SpfDns>(&self, dns: &D, domain: &str) -> Result<Policy, FetchError> {
        let host = format!("mta-sts.{}", domain.trim_end_matches('.'));
        match tokio::time::timeout(self.timeout, self.fetch_body(dns, &host)).await {
            Ok(body) => Ok(Policy::parse(&body?)?),
            Err(_) => Err(FetchError::Timeout(self.timeout)),
        }
    }

    async fn fetch_body<D: SpfDns>(&self, dns: &D, host: &str) -> Result<Bytes, FetchError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| FetchError::Dns(format!("{host} (not a host name)")))?;
        let tcp = connect(dns, host).await?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Tls {
                host: host.to_string(),
                error: e.to_string(),
            })?;
        let http = |e: hyper::Error| FetchError::Http(e.to_string());
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(http)?;
        // The connection task ends when the response is read or the fetch is dropped.
        tokio::spawn(conn);
        let request = hyper::Request::get("/.well-known/mta-sts.txt")
            .header(hyper::header::HOST, host)
            .header(hyper::header::USER_AGENT, "sge-milter")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(http)?;
        if response.status() != hyper::StatusCode::OK {
            // 3xx included: RFC 8461 §3.3 forbids following redirects.
            return Err(FetchError::Http(format!("status {}", response.status())));
        }
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.to_ascii_lowercase().starts_with("text/plain") {
            return Err(FetchError::Invalid(format!(
                "content type {content_type:?} is not text/plain"
            )));
        }
        Limited::new(response.into_body(), MAX_POLICY_SIZE)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| FetchError::Http(e.to_string()))
    }
}

/// Connects to port 443 of the first address of `host` that answers (IPv4 first).
async fn connect<D: SpfDns>(dns: &D, host: &str) -> Result<TcpStream, FetchError> {
    let mut addrs: Vec<IpAddr> = Vec::new();
    if let Ok(v4) = dns.a(host).await {
        addrs.extend(v4.into_iter().map(IpAddr::V4));
    }
    if let Ok(v6) = dns.aaaa(host).await {
        addrs.extend(v6.into_iter().map(IpAddr::V6));
    }
    if addrs.is_empty() {
        return Err(FetchError::Dns(host.to_string()));
    }
    let mut last = String::new();
    for ip in addrs {
        match TcpStream::connect(SocketAddr::new(ip, 443)).await {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{ip}: {e}"),
        }
    }
    Err(FetchError::Connect {
        host: host.to_string(),
        error: last,
    })
}

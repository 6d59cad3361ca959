//! The socketmap server (Postfix socketmap_table(5)): each request is the netstring
//! `name key`, each reply the netstring `OK data`, `NOTFOUND `, `TEMP reason` or
//! `PERM reason`. Postfix keeps connections open and sends requests one at a time.

use super::netstring::{self, NetstringError};
use super::{PolicyService, Source};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};

/// Longest request read; Postfix's keys are domain names.
const MAX_REQUEST: usize = 4096;
/// A connection idle this long is closed (Postfix reconnects when it needs to).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ok(String),
    NotFound,
    Temp(String),
    Perm(String),
}

impl Reply {
    pub fn encode(&self) -> String {
        match self {
            Reply::Ok(data) => format!("OK {data}"),
            Reply::NotFound => "NOTFOUND ".to_string(),
            Reply::Temp(reason) => format!("TEMP {reason}"),
            Reply::Perm(reason) => format!("PERM {reason}"),
        }
    }
}

/// Accepts connections until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, service: Arc<PolicyService>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let service = Arc::clone(&service);
                tokio::spawn(async move { connection(stream, service).await });
            }
            Err(e) => {
                tracing::warn!(error = %e, "tls_policy: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, service: Arc<PolicyService>) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let request =
            match tokio::time::timeout(IDLE_TIMEOUT, netstring::read(&mut read, MAX_REQUEST)).await
            {
                Ok(Ok(r)) => r,
                Ok(Err(NetstringError::Closed)) | Err(_) => return,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "tls_policy: bad socketmap request; closing");
                    return;
                }
            };
        let reply = answer(&service, &request).await;
        if netstring::write(&mut write, reply.encode().as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn answer(service: &PolicyService, request: &[u8]) -> Reply {
    let metrics = &crate::metrics::global().connectors;
    let Some((name, key)) = std::str::from_utf8(request)
        .ok()
        .and_then(|r| r.split_once(' '))
    else {
        metrics.tls_policy_lookup("error");
        return Reply::Perm("request is not \"name key\"".into());
    };
    // A wrong map name is a configuration error: PERM makes Postfix defer and log it
    // instead of silently sending without the policy.
    if name != service.map_name() {
        metrics.tls_policy_lookup("error");
        return Reply::Perm(format!("unknown map name {name:?}"));
    }
    let (source, reply) = service.lookup(key).await;
    metrics.tls_policy_lookup(source.as_str());
    if source != Source::None {
        tracing::debug!(key, policy = source.as_str(), reply = %reply.encode(), "tls_policy lookup");
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_replies_as_socketmap_table_5() {
        assert_eq!(
            Reply::Ok("secure match=a".into()).encode(),
            "OK secure match=a"
        );
        assert_eq!(Reply::NotFound.encode(), "NOTFOUND ");
        assert_eq!(Reply::Temp("x".into()).encode(), "TEMP x");
        assert_eq!(Reply::Perm("y".into()).encode(), "PERM y");
    }
}

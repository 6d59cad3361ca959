//! The hog: one extra connection sending large messages, not counted, so the
//! counted messages' latency shows what a large message does to everyone else.
//!
//! Back to back (the harsh variant: a large message always in flight), or one
//! message every N seconds, the first half a period into the run so each run has
//! time without a hog to compare with. Each hog message's time in flight (connect
//! to the end-of-message reply) is recorded as a window; the report splits the
//! counted messages into those that overlapped a window and those that did not.

use crate::client::{Connection, Envelope, Target};
use crate::corpus::{base64_lines, words};
use clap::ValueEnum;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A hog message's time in flight: from connecting to the end-of-message reply.
pub type Window = (Instant, Instant);

/// What a hog message holds.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum HogKind {
    /// Plain text (scanned as it arrives).
    #[default]
    Text,
    /// A short text part and a gzip attachment of word text (opened at the end of
    /// the message, its text scanned then).
    Gzip,
}

/// How the hog sends.
#[derive(Clone, Copy, Debug)]
pub struct HogSpec {
    /// Body bytes (about, for `Gzip`).
    pub size: usize,
    pub kind: HogKind,
    /// One message every this long; `None` is back to back.
    pub every: Option<Duration>,
    pub nodelay: bool,
}

/// A running hog: join it for the messages it sent and their windows.
pub struct Hog {
    task: tokio::task::JoinHandle<Vec<Duration>>,
    windows: Arc<Mutex<Vec<Window>>>,
}

/// What the hog did.
pub struct HogRun {
    /// The end-of-message time of each message it completed.
    pub eom: Vec<Duration>,
    /// Every message it started.
    pub windows: Vec<Window>,
}

impl Hog {
    /// Starts sending to `target` until `stop` is set (or, with `every`, until the
    /// next message would start after `deadline`).
    pub fn spawn(
        target: Target,
        spec: HogSpec,
        stop: Arc<AtomicBool>,
        deadline: Option<Instant>,
    ) -> Hog {
        let windows = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(run(target, spec, stop, deadline, Arc::clone(&windows)));
        Hog { task, windows }
    }

    /// Waits for the hog to stop.
    pub async fn join(self) -> HogRun {
        let eom = self.task.await.unwrap_or_default();
        let windows = std::mem::take(&mut *self.windows.lock().unwrap_or_else(|e| e.into_inner()));
        HogRun { eom, windows }
    }
}

async fn run(
    target: Target,
    spec: HogSpec,
    stop: Arc<AtomicBool>,
    deadline: Option<Instant>,
    windows: Arc<Mutex<Vec<Window>>>,
) -> Vec<Duration> {
    let (content_type, body) = match spec.kind {
        HogKind::Text => ("text/plain; charset=utf-8", text_body(spec.size)),
        HogKind::Gzip => (
            "multipart/mixed; boundary=\"hog\"",
            gzip_body(spec.size).into_bytes(),
        ),
    };
    let mut next = spec.every.map(|e| Instant::now() + e / 2);
    let mut eom = Vec::new();
    loop {
        if let Some(at) = next {
            if deadline.is_some_and(|d| at >= d) {
                break;
            }
            tokio::time::sleep_until(at.into()).await;
            next = Some(at + spec.every.unwrap_or_default());
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        let ok = one(&target, spec.nodelay, content_type, &body).await;
        let window = (started, Instant::now());
        windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(window);
        match ok {
            Ok(took) => eom.push(took),
            // Nothing listens (yet): do not spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    eom
}

fn text_body(size: usize) -> Vec<u8> {
    b"hog hog hog hog hog hog hog hog hog hog hog hog hog hog hog hog\r\n"
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect()
}

/// A multipart body of about `size` bytes whose attachment is gzipped word text
/// (which compresses about fivefold, so the milter has that much more to scan).
fn gzip_body(size: usize) -> String {
    let target = size * 3 / 4;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut seed = 1;
    while gz.get_ref().len() < target {
        // Writes into a Vec cannot fail.
        let _ = gz.write_all(words(seed, 64 * 1024).as_bytes());
        seed += 1;
    }
    let data = gz.finish().unwrap_or_default();
    let mut b = String::from(
        "--hog\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe report is attached.\r\n\
         --hog\r\nContent-Type: application/gzip; name=\"report.txt.gz\"\r\n\
         Content-Disposition: attachment; filename=\"report.txt.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
    );
    base64_lines(&data, &mut b);
    b.push_str("--hog--\r\n");
    b
}

/// One hog message on its own connection; returns its end-of-message time.
async fn one(
    target: &Target,
    nodelay: bool,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<Duration> {
    let headers = [
        ("From", "hog@load.test"),
        ("To", "recipient@agency.govt.nz"),
        ("Subject", "large [SEC=UNCLASSIFIED]"),
        ("MIME-Version", "1.0"),
        ("Content-Type", content_type),
    ]
    .map(|(n, v)| (n.to_string(), v.to_string()));
    let rcpts = ["recipient@agency.govt.nz".to_string()];
    let env = Envelope {
        client_ip: "192.0.2.99",
        helo: "mta.load.test",
        mail_from: "hog@load.test",
        rcpts: &rcpts,
    };
    let mut conn = Connection::open(target, nodelay).await?;
    conn.greet(env.client_ip, env.helo).await?;
    let out = conn.message(&env, &headers, body).await?;
    conn.quit().await?;
    Ok(out.eom)
}

/// Whether a message that started at `start` and took `took` was in flight at the
/// same time as any of `windows`.
pub fn overlaps(windows: &[Window], start: Instant, took: Duration) -> bool {
    let end = start + took;
    windows.iter().any(|&(a, b)| start < b && end > a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gzip_hog_is_about_its_size_and_holds_a_gzip_attachment() {
        let b = gzip_body(1_000_000);
        assert!((900_000..1_300_000).contains(&b.len()), "{}", b.len());
        assert!(b.contains("filename=\"report.txt.gz\"") && b.ends_with("--hog--\r\n"));
        // base64 of the gzip magic 1f 8b 08.
        assert!(b.contains("\r\n\r\nH4sI"));
    }

    #[test]
    fn a_message_overlaps_a_window_only_when_they_share_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let windows = [(t0 + ms(100), t0 + ms(200))];
        assert!(overlaps(&windows, t0 + ms(90), ms(20)));
        assert!(overlaps(&windows, t0 + ms(150), ms(1)));
        assert!(overlaps(&windows, t0 + ms(190), ms(50)));
        assert!(overlaps(&windows, t0, ms(500)));
        assert!(!overlaps(&windows, t0, ms(100)));
        assert!(!overlaps(&windows, t0 + ms(200), ms(10)));
        assert!(!overlaps(&[], t0, ms(500)));
    }
}

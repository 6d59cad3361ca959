//! One load run: workers pull messages from the corpus and send them, one message
//! per connection by default (Postfix opens a milter connection per SMTP session).

use crate::client::{Connection, Envelope, Target};
use crate::corpus::{self, CorpusSpec, Message, SignKey};
use crate::hog::{Hog, HogKind, HogSpec};
use crate::stats::{Report, Samples, rss_mb};
use clap::Args;
use sge_milter::config::ByteSize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

#[derive(Args, Clone, Debug)]
pub struct CorpusArgs {
    /// Distinct messages generated (sent round-robin).
    #[arg(long, default_value_t = 200)]
    pub corpus: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// From domain of every message.
    #[arg(long, default_value = "load.test")]
    pub domain: String,
    /// Percentage of messages from 127.0.0.1 (outbound for sge-milter's defaults).
    #[arg(long, default_value_t = 20)]
    pub outbound_percent: u32,
    /// PEM key to DKIM-sign about half the messages with (for --domain).
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
    #[arg(long, default_value = "load")]
    pub sign_selector: String,
    /// Every body this size (e.g. 8MiB) instead of the 2 KB-2 MB mix.
    #[arg(long)]
    pub fixed_size: Option<String>,
}

impl CorpusArgs {
    fn spec(&self) -> Result<CorpusSpec, String> {
        Ok(CorpusSpec {
            count: self.corpus.max(1),
            seed: self.seed,
            domain: self.domain.clone(),
            outbound_percent: self.outbound_percent.min(100),
            sign: self.sign_key.as_ref().map(|k| SignKey {
                key_file: k.clone(),
                selector: self.sign_selector.clone(),
            }),
            fixed_size: self.fixed_size.as_deref().map(size).transpose()?,
        })
    }
}

fn size(s: &str) -> Result<usize, String> {
    s.parse::<ByteSize>().map(ByteSize::as_usize)
}

#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// inet:HOST:PORT or unix:PATH
    #[arg(long)]
    pub target: String,
    /// Name on the result line.
    #[arg(long, default_value = "milter")]
    pub label: String,
    #[arg(long, short = 'c', default_value_t = 16)]
    pub concurrency: usize,
    /// Messages to send (ignored with --duration).
    #[arg(long, short = 'n', default_value_t = 2000)]
    pub messages: u64,
    /// Run this long instead of a message count (e.g. 10s).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Open loop: start messages at this many per second, evenly spaced, instead of
    /// each connection sending its next message as soon as the last is answered.
    /// At most --concurrency are in flight; a message that finds them all busy
    /// waits, and its latency counts from when it was due (the report says how
    /// many were late).
    #[arg(long, value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Messages per milter connection.
    #[arg(long, default_value_t = 1)]
    pub per_connection: u32,
    /// Messages sent (not counted) before measuring, to warm caches.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Also keep one connection busy with messages of this size (e.g. 20MiB); its
    /// messages are not counted, so p99 shows what it does to everyone else. Back to
    /// back unless --hog-every.
    #[arg(long)]
    pub hog_size: Option<String>,
    /// With --hog-size: one hog message every this many seconds (the first half a
    /// period in) instead of back to back; the report splits p99 into messages in
    /// flight with a hog message and the others (the same-run baseline).
    #[arg(long, requires = "hog_size")]
    pub hog_every: Option<f64>,
    /// What the hog messages hold: text, or a gzip attachment (opened at the end
    /// of the message).
    #[arg(long, value_enum, default_value_t = HogKind::Text)]
    pub hog_kind: HogKind,
    /// Also hold this many idle connections open (connected and greeted).
    #[arg(long, default_value_t = 0)]
    pub idle: usize,
    /// Report the peak (VmHWM) and current (VmRSS) resident memory of this process
    /// (the milter) at the end, while the --idle connections are still open.
    #[arg(long)]
    pub watch_pid: Option<u32>,
    #[arg(long)]
    pub json: bool,
    /// Set TCP_NODELAY on the client socket (Postfix does not).
    #[arg(long)]
    pub nodelay: bool,
    /// Every message waits after its body until the other connections' messages
    /// have sent theirs, then ends: with -n equal to -c, all messages are in the
    /// milter at once (for --watch-pid memory figures).
    #[arg(long)]
    pub hold_eom: bool,
    #[command(flatten)]
    pub corpus: CorpusArgs,
}

/// What the workers share.
struct Plan {
    target: Target,
    corpus: Vec<Message>,
    next: AtomicU64,
    limit: u64,
    deadline: Option<Instant>,
    per_connection: u32,
    nodelay: bool,
    /// Shared by all connections with --hold-eom.
    hold: Option<Arc<Barrier>>,
    /// Shared with the hog, which stops with the run.
    stop: Arc<AtomicBool>,
    /// With --rate: when message `i` is due.
    pace: Option<Pace>,
}

/// The open-loop schedule: message `i` is due at `epoch + i / per_second`.
#[derive(Clone, Copy)]
struct Pace {
    per_second: f64,
    epoch: Instant,
}

/// One message to send, and when it is due (open loop only).
struct Slot<'a> {
    message: &'a Message,
    due: Option<Instant>,
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a positive number of messages per second"
        )),
    }
}

impl Plan {
    /// The next message to send, or `None` when the run is over.
    fn take(&self) -> Option<Slot<'_>> {
        if self.stop.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if self.deadline.is_none() && i >= self.limit {
            return None;
        }
        let due = self
            .pace
            .map(|p| p.epoch + Duration::from_secs_f64(i as f64 / p.per_second));
        if let (Some(due), Some(deadline)) = (due, self.deadline)
            && due >= deadline
        {
            return None;
        }
        Some(Slot {
            message: &self.corpus[i as usize % self.corpus.len()],
            due,
        })
    }
}

/// How far past its due time a message may be taken and still count as on time:
/// tokio's timer resolution (and the first message is due the instant the run
/// starts).
const ON_TIME_SLACK: Duration = Duration::from_millis(1);

/// Waits until `due` (open loop). Returns `due` when it had already passed (every
/// connection was busy then): that message's latency starts when it was due, not
/// when a connection came free. A message sent on time starts at MAIL FROM, as in
/// a closed-loop run (the timer's own lateness is not the milter's).
async fn wait_until_due(due: Option<Instant>, s: &mut Samples) -> Option<Instant> {
    let due = due?;
    let now = Instant::now();
    if due > now {
        tokio::time::sleep_until(due.into()).await;
        None
    } else if now - due <= ON_TIME_SLACK {
        None
    } else {
        s.late += 1;
        Some(due)
    }
}

pub async fn main(args: RunArgs) -> Result<(), String> {
    let corpus = corpus::generate(&args.corpus.spec()?)?;
    let target = Target::parse(&args.target)?;
    if args.warmup > 0 {
        let mut warm = plan(
            target.clone(),
            corpus_clone(&corpus),
            args.warmup,
            None,
            args.per_connection,
        );
        warm.nodelay = args.nodelay;
        let warm = Arc::new(warm);
        drive(&warm, args.concurrency).await;
    }
    let _idle = hold_idle(&target, args.idle).await?;
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut p = plan(
        target.clone(),
        corpus,
        args.messages,
        deadline,
        args.per_connection,
    );
    p.nodelay = args.nodelay;
    p.pace = args.rate.map(|per_second| Pace {
        per_second,
        epoch: Instant::now(),
    });
    p.hold = args
        .hold_eom
        .then(|| Arc::new(Barrier::new(args.concurrency.max(1))));
    let p = Arc::new(p);
    let hog = match &args.hog_size {
        Some(s) => {
            let spec = HogSpec {
                size: size(s)?,
                kind: args.hog_kind,
                every: args.hog_every.map(Duration::from_secs_f64),
                nodelay: args.nodelay,
            };
            Some(Hog::spawn(
                target.clone(),
                spec,
                Arc::clone(&p.stop),
                deadline,
            ))
        }
        None => None,
    };
    let started = Instant::now();
    let samples = drive(&p, args.concurrency).await;
    let wall = started.elapsed();
    p.stop.store(true, Ordering::Relaxed);
    let hog = match hog {
        Some(h) => Some(h.join().await),
        None => None,
    };
    let mut report = Report::new(
        &args.label,
        &args.target,
        args.concurrency,
        samples,
        wall,
        hog,
    );
    report.offered_per_s = args.rate;
    // Read while the idle connections are still held (`_idle` lives to the end).
    if let Some((peak, now)) = args.watch_pid.and_then(rss_mb) {
        report.peak_rss_mb = Some(peak);
        report.rss_mb = Some(now);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!("{}", report.line());
    }
    Ok(())
}

fn plan(
    target: Target,
    corpus: Vec<Message>,
    limit: u64,
    deadline: Option<Instant>,
    per_connection: u32,
) -> Plan {
    Plan {
        target,
        corpus,
        next: AtomicU64::new(0),
        limit,
        deadline,
        per_connection: per_connection.max(1),
        nodelay: false,
        hold: None,
        stop: Arc::new(AtomicBool::new(false)),
        pace: None,
    }
}

fn corpus_clone(c: &[Message]) -> Vec<Message> {
    c.iter()
        .map(|m| Message {
            client_ip: m.client_ip.clone(),
            mail_from: m.mail_from.clone(),
            rcpts: m.rcpts.clone(),
            headers: m.headers.clone(),
            body: m.body.clone(),
        })
        .collect()
}

/// Runs `concurrency` workers until the plan is exhausted; merges their samples.
async fn drive(plan: &Arc<Plan>, concurrency: usize) -> Samples {
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| tokio::spawn(worker(Arc::clone(plan))))
        .collect();
    let mut all = Samples::default();
    for w in workers {
        if let Ok(s) = w.await {
            all.merge(s);
        }
    }
    all
}

async fn worker(plan: Arc<Plan>) -> Samples {
    let mut s = Samples::default();
    while let Some(first) = plan.take() {
        let late_since = wait_until_due(first.due, &mut s).await;
        if let Err(e) = session(&plan, first.message, late_since, &mut s).await {
            s.errors += 1;
            if s.errors <= 3 {
                eprintln!("connection error: {e}");
            }
        }
    }
    s
}

/// One connection carrying up to `per_connection` messages (all from the first
/// one's client: the connection carries the client address). `first_late_since`:
/// when the first message was due, if it is late (see [`wait_until_due`]).
async fn session(
    plan: &Plan,
    first: &Message,
    first_late_since: Option<Instant>,
    s: &mut Samples,
) -> std::io::Result<()> {
    let mut conn = Connection::open(&plan.target, plan.nodelay).await?;
    conn.greet(&first.client_ip, "mta.load.test").await?;
    if let Some(b) = &plan.hold {
        conn.hold_before_eom(Arc::clone(b));
    }
    let mut next = Some((first, first_late_since));
    let mut sent = 0;
    while let Some((m, late_since)) = next {
        if sent > 0 {
            conn.abort().await?;
        }
        let started = late_since.unwrap_or_else(Instant::now);
        let env = Envelope {
            client_ip: &m.client_ip,
            helo: "mta.load.test",
            mail_from: &m.mail_from,
            rcpts: &m.rcpts,
        };
        let out = conn.message(&env, &m.headers, &m.body).await?;
        s.starts.push(started);
        s.total.push(started.elapsed());
        s.eom.push(out.eom);
        s.bytes += m.size() as u64;
        s.verdicts.count(out.verdict);
        s.edits += u64::from(out.edits);
        sent += 1;
        next = match (sent < plan.per_connection).then(|| plan.take()).flatten() {
            Some(slot) => Some((slot.message, wait_until_due(slot.due, s).await)),
            None => None,
        };
    }
    conn.quit().await
}

/// Opens `n` connections and greets on each; they stay open while the guard lives.
async fn hold_idle(target: &Target, n: usize) -> Result<Vec<Connection>, String> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = Connection::open(target, false)
            .await
            .map_err(|e| format!("idle connection: {e}"))?;
        c.greet("192.0.2.50", "idle.load.test")
            .await
            .map_err(|e| format!("idle connection: {e}"))?;
        held.push(c);
    }
    Ok(held)
}

/// `corpus --out DIR`: one .eml per message.
pub fn write_corpus(args: &CorpusArgs, out: &Path) -> Result<(), String> {
    let corpus = corpus::generate(&args.spec()?)?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (i, m) in corpus.iter().enumerate() {
        let mut eml = Vec::with_capacity(m.body.len() + 2048);
        for (n, v) in &m.headers {
            eml.extend_from_slice(format!("{n}: {}\r\n", v.replace('\n', "\r\n")).as_bytes());
        }
        eml.extend_from_slice(b"\r\n");
        eml.extend_from_slice(&m.body);
        let path = out.join(format!("{i:04}.eml"));
        std::fs::write(&path, eml).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sge_milter::milter::{ListenAddr, Shared, bind, serve};
    use sge_milter::pipeline::Engine;

    fn args(target: String, label: &str) -> (Target, CorpusSpec) {
        let spec = CorpusSpec {
            count: 25,
            seed: 7,
            domain: "load.test".into(),
            outbound_percent: 40,
            sign: None,
            fixed_size: None,
        };
        let _ = label;
        (Target::parse(&target).unwrap(), spec)
    }

    async fn run_50(target: String) -> Samples {
        let (target, spec) = args(target, "t");
        let corpus = corpus::generate(&spec).unwrap();
        let p = Arc::new(plan(target, corpus, 50, None, 2));
        drive(&p, 4).await
    }

    /// The no-op milter on a unix socket in a temporary directory.
    struct Noop {
        _dir: tempfile::TempDir,
        sock: std::path::PathBuf,
        stop: tokio::sync::oneshot::Sender<()>,
        server: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    impl Noop {
        async fn start() -> Noop {
            let dir = tempfile::tempdir().unwrap();
            let sock = dir.path().join("noop.sock");
            let listener = bind(&ListenAddr::Unix(sock.clone()), None).await.unwrap();
            let (stop, rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(crate::noop::run(listener, async {
                let _ = rx.await;
            }));
            Noop {
                _dir: dir,
                sock,
                stop,
                server,
            }
        }

        fn target(&self) -> String {
            format!("unix:{}", self.sock.display())
        }

        async fn stop(self) {
            let _ = self.stop.send(());
            self.server.await.unwrap().unwrap();
        }
    }

    /// Authentication off: the quick test must not depend on DNS.
    fn engine() -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sge-milter.toml");
        std::fs::write(&path, "[auth]\nenabled = false\n").unwrap();
        let loaded = sge_milter::config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        Engine::compile(loaded).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `messages` sent to the no-op milter at `per_second` over `concurrency`
    /// connections; the samples, and when message 0 was due.
    async fn paced_run(messages: u64, per_second: f64, concurrency: usize) -> (Samples, Instant) {
        let noop = Noop::start().await;
        let (target, spec) = args(noop.target(), "t");
        let mut p = plan(target, corpus::generate(&spec).unwrap(), messages, None, 1);
        let epoch = Instant::now();
        p.pace = Some(Pace { per_second, epoch });
        let s = drive(&Arc::new(p), concurrency).await;
        noop.stop().await;
        assert_eq!((s.errors, s.verdicts.total()), (0, messages));
        (s, epoch)
    }

    /// --rate: no message starts before it is due, so 20 messages at 100/s take at
    /// least 0.19 s however idle the connections are (a closed-loop run sends them
    /// as fast as the milter answers).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_loop_run_sends_no_message_before_it_is_due() {
        let (s, epoch) = paced_run(20, 100.0, 4).await;
        let mut starts = s.starts.clone();
        starts.sort_unstable();
        for (i, start) in starts.iter().enumerate() {
            let due = epoch + Duration::from_secs_f64(i as f64 / 100.0);
            assert!(*start >= due, "message {i} started before it was due");
        }
    }

    /// --rate faster than one connection can send: messages find it busy, are
    /// counted late, and their latency runs from when they were due. 200 messages
    /// due within 0.2 ms, sent one at a time over a fresh connection each, cannot
    /// all be on time; each late one's start is its due time, inside those 0.2 ms,
    /// while a message sent on time starts at MAIL FROM, after its due time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_late_message_counts_its_latency_from_when_it_was_due() {
        let (s, epoch) = paced_run(200, 1e6, 1).await;
        assert!(s.late > 0, "no message was late");
        let last_due = epoch + Duration::from_secs_f64(199.0 / 1e6);
        let started_when_due = s.starts.iter().filter(|&&t| t <= last_due).count();
        assert!(
            started_when_due as u64 >= s.late,
            "{} late messages, {started_when_due} counted from their due time",
            s.late
        );
    }

    #[test]
    fn a_rate_must_be_a_positive_number() {
        assert_eq!(positive_rate("250"), Ok(250.0));
        assert_eq!(positive_rate("0.5"), Ok(0.5));
        for bad in ["0", "-3", "fast", "inf", "NaN"] {
            assert!(positive_rate(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_messages_through_sge_milter_and_the_noop_milter_add_up() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let listener = bind(&ListenAddr::Inet("127.0.0.1:0".into()), None)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Shared::new(engine()), async {
            let _ = rx.await;
        }));
        let s = run_50(format!("inet:{addr}")).await;
        assert_eq!(s.errors, 0);
        assert_eq!(s.total.len(), 50);
        assert_eq!(s.verdicts.total(), 50, "{:?}", s.verdicts);
        // 10% of messages carry a payment card; outbound ones are refused.
        assert!(s.verdicts.reject > 0, "{:?}", s.verdicts);
        assert!(s.verdicts.accept > 0, "{:?}", s.verdicts);
        let _ = tx.send(());
        server.await.unwrap().unwrap();

        let noop = Noop::start().await;
        let s = run_50(noop.target()).await;
        assert_eq!((s.errors, s.verdicts.accept, s.edits), (0, 50, 50));
        noop.stop().await;
    }
}

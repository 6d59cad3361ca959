//! sge-milter served in-process on a loopback port, for tests that drive it with
//! `indymilter-test` and look inside `Shared` (budget, metrics).

use sge_milter::config;
use sge_milter::milter::{self, ListenAddr, Shared};
use sge_milter::pipeline::Engine;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// A milter serving `dir/sge-milter.toml` (written from `toml`) on 127.0.0.1 until
/// `shutdown` completes.
pub async fn serve(
    dir: &Path,
    toml: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (SocketAddr, Arc<Shared>, JoinHandle<std::io::Result<()>>) {
    let cfg_path = dir.join("sge-milter.toml");
    std::fs::write(&cfg_path, toml).unwrap();
    let engine = Engine::compile(config::load(Some(&cfg_path)).unwrap()).unwrap();
    let listener = milter::bind(&ListenAddr::Inet("127.0.0.1:0".into()), None)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Shared::new(engine);
    let task = tokio::spawn(milter::serve(listener, Arc::clone(&shared), shutdown));
    (addr, shared, task)
}

//! Shared by the SPF integration tests: the loopback DNS server of
//! `integration/spf_dns_server.py` serving one zone.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// `integration/spf_dns_server.py`.
pub fn server_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("integration")
        .join("spf_dns_server.py")
}

/// One scenario's DNS server; killed on drop, even when the test fails.
pub struct DnsServer {
    child: Child,
    pub port: u16,
    zone: tempfile::NamedTempFile,
}

impl DnsServer {
    /// Serves `zone` (`{name: [[type, value], ...]}`, as `spf_dns_server.py dump` writes
    /// it) on a free 127.0.0.1 port, UDP and TCP.
    pub fn start(zone: &Value) -> Self {
        let mut zone_file = tempfile::NamedTempFile::new().expect("zone file");
        zone_file
            .write_all(zone.to_string().as_bytes())
            .expect("write zone");
        let mut child = Command::new("python3")
            .arg(server_script())
            .arg("serve")
            .arg(zone_file.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start DNS server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("server port line");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            panic!("DNS server did not start: {line:?}");
        };
        Self {
            child,
            port,
            zone: zone_file,
        }
    }

    /// Replaces the zone: rewrites the zone file and has the server re-read it
    /// (SIGHUP). The change applies once the server has handled the signal, so
    /// callers poll for its effect.
    #[allow(dead_code)] // only the tests that change DNS mid-run use it
    pub fn reload(&self, zone: &Value) {
        std::fs::write(self.zone.path(), zone.to_string()).expect("rewrite zone");
        let status = Command::new("kill")
            .args(["-s", "HUP", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s HUP {}", self.child.id());
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

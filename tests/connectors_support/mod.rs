//! Shared by the connector tests (TLS policy, MTA-STS, posture): a test CA made with
//! openssl, and a loopback HTTPS server (`integration/https_server.py`) that serves
//! MTA-STS policies on 127.0.x.y:443.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away certificate authority in `dir`.
pub struct TestCa {
    dir: PathBuf,
}

/// A key and certificate (PEM files).
pub struct CertPair {
    pub key: PathBuf,
    pub cert: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=SGE Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            dir,
        );
        TestCa {
            dir: dir.to_path_buf(),
        }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server certificate signed by this CA, valid for `names`.
    pub fn issue(&self, file: &str, names: &[&str]) -> CertPair {
        let sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        std::fs::write(
            self.dir.join(format!("{file}.ext")),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                sans.join(",")
            ),
        )
        .unwrap();
        let (key, csr, cert, ext) = (
            format!("{file}.key"),
            format!("{file}.csr"),
            format!("{file}.pem"),
            format!("{file}.ext"),
        );
        let subject = format!("/CN={}", names[0]);
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &subject,
            ],
            &self.dir,
        );
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
            &self.dir,
        );
        self.pair(file)
    }

    /// A self-signed certificate for `name` (trusted by nobody).
    pub fn self_signed(&self, file: &str, name: &str) -> CertPair {
        let (key, cert) = (format!("{file}.key"), format!("{file}.pem"));
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &cert,
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-addext",
                &format!("subjectAltName=DNS:{name}"),
            ],
            &self.dir,
        );
        self.pair(file)
    }

    fn pair(&self, file: &str) -> CertPair {
        CertPair {
            key: self.dir.join(format!("{file}.key")),
            cert: self.dir.join(format!("{file}.pem")),
        }
    }
}

/// `integration/https_server.py` serving `root` on 127.0.x.y:443; killed on drop.
/// It records the requests it answers; it can be stopped and restarted (with another
/// certificate) mid-test.
pub struct HttpsServer {
    child: Option<Child>,
    pub ip: String,
    /// `host path status` of every request answered, over all restarts.
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpsServer {
    pub fn start(root: &Path, pair: &CertPair) -> HttpsServer {
        // Spread parallel test binaries over loopback addresses (port 443 is fixed).
        let first = std::process::id() % 2000 + 10;
        let mut server = HttpsServer {
            child: None,
            ip: String::new(),
            requests: Arc::default(),
        };
        server.spawn(root, pair, first);
        server
    }

    /// Starts the script on the first free address from octet `first` that no other
    /// server of this process holds.
    fn spawn(&mut self, root: &Path, pair: &CertPair, mut first: u32) {
        // Held across the start: servers of one process start one at a time.
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        let (child, ip, stdout) = loop {
            let (mut child, ip, stdout) = launch(root, pair, first);
            if !held.contains(&ip) {
                break (child, ip, stdout);
            }
            // Another test's stopped server: its address must stay refused.
            let _ = child.kill();
            let _ = child.wait();
            first = octet(&ip) + 1;
        };
        held.push(ip.clone());
        drop(held);
        // Keep reading: the request lines, and the pipe stays open for the server.
        let requests = Arc::clone(&self.requests);
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(request) = line.strip_prefix("REQUEST ") {
                    requests.lock().unwrap().push(request.to_string());
                }
            }
        });
        self.child = Some(child);
        self.ip = ip;
    }

    /// Kills the server: connections to its address are refused until [`Self::restart`].
    /// The address stays held, so no other server of this process takes it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again with `pair`, on the same address when it is still free
    /// (compare [`Self::ip`] before and after: another test binary may have taken it).
    pub fn restart(&mut self, root: &Path, pair: &CertPair) {
        self.stop();
        self.release();
        self.spawn(root, pair, octet(&self.ip));
    }

    fn release(&self) {
        HELD.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|ip| *ip != self.ip);
    }

    /// The status of each request for `host` the server has answered so far, in
    /// order (the log can lag a reply by a moment: poll for it to grow).
    pub fn statuses_for(&self, host: &str) -> Vec<u16> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| {
                let mut fields = r.split(' ');
                let found = fields.next() == Some(host);
                found.then(|| fields.nth(1)?.parse().ok()).flatten()
            })
            .collect()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop();
        self.release();
    }
}

/// Addresses of this process's HTTPS servers, stopped ones included. Its servers
/// all scan from the same first address, so without this a server started by one
/// test could take the address of another test's stopped server.
static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Starts `integration/https_server.py`; returns it, its address and its stdout.
fn launch(root: &Path, pair: &CertPair, first: u32) -> (Child, String, BufReader<ChildStdout>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/https_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(root)
        .arg(&pair.cert)
        .arg(&pair.key)
        .arg(first.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3 HTTPS server");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("ADDR line");
    let Some(ip) = line.trim().strip_prefix("ADDR ").map(str::to_string) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("HTTPS server did not start: {line:?}");
    };
    (child, ip, stdout)
}

/// The script's address number of `127.0.A.B` (the inverse of its `ip` formula).
fn octet(ip: &str) -> u32 {
    let parts: Vec<u32> = ip.split('.').filter_map(|o| o.parse().ok()).collect();
    parts[2] * 250 + parts[3] - 2
}

/// Writes `.well-known/mta-sts.txt` under `root`.
pub fn write_policy(root: &Path, policy: &str) {
    let dir = root.join(".well-known");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mta-sts.txt"), policy).unwrap();
}

/// Makes requests for the policy file get `status` (e.g. 500) instead of the file;
/// `None` serves the file again.
pub fn set_policy_status(root: &Path, status: Option<u16>) {
    let path = root.join(".well-known/mta-sts.txt.status");
    match status {
        Some(code) => std::fs::write(path, code.to_string()).unwrap(),
        None => {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A socketmap client (socketmap_table(5)) asking as Postfix does: one connection,
/// each request the netstring `name key`, each reply a netstring.
pub struct Socketmap {
    stream: BufReader<TcpStream>,
}

impl Socketmap {
    pub fn connect(addr: &str) -> Socketmap {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        // Longer than any MTA-STS fetch the server may do before it answers.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Socketmap {
            stream: BufReader::new(stream),
        }
    }

    /// The reply to `name key`, e.g. `OK secure match=...` or `NOTFOUND `.
    pub fn lookup(&mut self, name: &str, key: &str) -> String {
        let request = format!("{name} {key}");
        write!(self.stream.get_mut(), "{}:{request},", request.len()).expect("send request");
        let mut len = Vec::new();
        self.stream
            .read_until(b':', &mut len)
            .expect("reply length");
        let len: usize = std::str::from_utf8(&len[..len.len().saturating_sub(1)])
            .ok()
            .and_then(|l| l.parse().ok())
            .unwrap_or_else(|| panic!("bad netstring length {len:?}"));
        let mut data = vec![0; len + 1];
        self.stream.read_exact(&mut data).expect("reply data");
        assert_eq!(data.pop(), Some(b','), "netstring without trailing comma");
        String::from_utf8(data).expect("UTF-8 reply")
    }
}

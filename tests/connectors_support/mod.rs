//! Shared by the connector tests (TLS policy, MTA-STS, posture): a test CA made with
//! openssl, and a loopback HTTPS server (`integration/https_server.py`) that serves
//! MTA-STS policies on 127.0.x.y:443.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
pub struct HttpsServer {
    child: Child,
    pub ip: String,
}

impl HttpsServer {
    pub fn start(root: &Path, pair: &CertPair) -> HttpsServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/https_server.py");
        // Spread parallel test binaries over loopback addresses (port 443 is fixed).
        let first = std::process::id() % 2000 + 10;
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
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ADDR line");
        let Some(ip) = line.trim().strip_prefix("ADDR ").map(str::to_string) else {
            let _ = child.kill();
            panic!("HTTPS server did not start: {line:?}");
        };
        HttpsServer { child, ip }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `.well-known/mta-sts.txt` under `root`.
pub fn write_policy(root: &Path, policy: &str) {
    let dir = root.join(".well-known");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mta-sts.txt"), policy).unwrap();
}

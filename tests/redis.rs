//! Real `redis-server` processes for tests: started on free loopback ports in temporary
//! directories, stopped (SIGKILL) when dropped. A missing `redis-server` is a test failure
//! with a clear message, never a skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdbinsight::source::resp::{Conn, Reply};

/// A running server.
pub struct Server {
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The port it also listens on with TLS, if any (see `start_tls`).
    pub tls_port: Option<u16>,
    child: Child,
    password: Option<String>,
}

/// A file of the TLS test certificates (`tests/fixtures/tls`, made by its `make-certs.sh`).
pub fn tls_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name);
    assert!(path.exists(), "missing TLS test file {}", path.display());
    path.to_string_lossy().into_owned()
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis_server() -> PathBuf {
    for p in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("redis-server not found: install Debian's redis-server (tests/run.sh does it)");
}

impl Server {
    /// Starts a server with extra `--name value` settings; `password` sets requirepass.
    pub fn start(password: Option<&str>, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(redis_server());
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .args([
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
            "--repl-diskless-sync-delay",
            "0",
        ]);
        if let Some(pw) = password {
            cmd.args(["--requirepass", pw]);
        }
        cmd.args(extra).stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd.spawn().expect("start redis-server");
        let s = Server {
            port,
            tls_port: None,
            dir,
            child,
            password: password.map(String::from),
        };
        s.wait_ready();
        s
    }

    /// Starts a server that also listens with TLS, with the test certificate `cert` (`server`:
    /// localhost and 127.0.0.1; `server-dns`: localhost only); with `client_certs` it asks
    /// clients for a certificate of the test CA. Setting it up goes through its plain port.
    pub fn start_tls(
        password: Option<&str>,
        cert: &str,
        client_certs: bool,
        extra: &[&str],
    ) -> Server {
        let tls_port = free_port().to_string();
        let (cert, key, ca) = (
            tls_file(&format!("{cert}.crt")),
            tls_file(&format!("{cert}.key")),
            tls_file("test-ca.crt"),
        );
        let mut args = vec![
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            if client_certs { "yes" } else { "no" },
        ];
        args.extend_from_slice(extra);
        let mut s = Server::start(password, &args);
        s.tls_port = tls_port.parse().ok();
        s
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// host:port of its TLS listener.
    pub fn tls_addr(&self) -> String {
        format!(
            "127.0.0.1:{}",
            self.tls_port.expect("started with start_tls")
        )
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = self.try_conn() {
                if matches!(c.call(&[b"PING"]), Ok(Reply::Status(_))) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not start; log: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    fn try_conn(&self) -> anyhow::Result<Conn> {
        let mut c = Conn::connect(
            &self.addr(),
            Duration::from_secs(2),
            Duration::from_secs(30),
        )?;
        if let Some(pw) = &self.password {
            c.auth(None, pw)?;
        }
        Ok(c)
    }

    /// An authenticated connection.
    pub fn conn(&self) -> Conn {
        self.try_conn().unwrap()
    }

    /// Runs a command and returns its reply; panics on a server error.
    pub fn cmd(&self, args: &[&str]) -> Reply {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let r = self.conn().call(&argv).unwrap();
        if let Reply::Error(e) = &r {
            panic!("{args:?} on {}: {e}", self.port);
        }
        r
    }

    /// Sends many commands on one connection and checks none failed.
    pub fn pipeline(&self, commands: &[Vec<Vec<u8>>]) {
        let mut c = self.conn();
        for chunk in commands.chunks(1000) {
            for cmd in chunk {
                let argv: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
                c.send(&argv).unwrap();
            }
            for _ in chunk {
                let mut line = c.read_line().unwrap();
                if line.starts_with(b"*") {
                    // Replies here are simple; an array reply's items are read and ignored.
                    let n: usize = String::from_utf8_lossy(&line[1..]).parse().unwrap_or(0);
                    for _ in 0..n * 2 {
                        line = c.read_line().unwrap();
                    }
                    continue;
                }
                assert!(
                    !line.starts_with(b"-"),
                    "{}",
                    String::from_utf8_lossy(&line)
                );
                if line.starts_with(b"$") && line != b"$-1" {
                    c.read_line().unwrap();
                }
            }
        }
    }

    /// SAVE and the path of the written RDB.
    pub fn save(&self) -> PathBuf {
        self.cmd(&["SAVE"]);
        self.dir.path().join("dump.rdb")
    }

    /// SIGKILL now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn b(s: impl AsRef<[u8]>) -> Vec<u8> {
    s.as_ref().to_vec()
}

/// A mixed data set: every type, several encodings, TTLs, big values, `n` string keys.
pub fn mixed_dataset(n: usize) -> Vec<Vec<Vec<u8>>> {
    let mut cmds = Vec::new();
    for i in 0..n {
        cmds.push(vec![
            b("SET"),
            b(format!("str:{i}")),
            b("x".repeat(i % 300)),
        ]);
    }
    cmds.push(vec![b("SET"), b("int:1"), b("12345")]);
    cmds.push(vec![b("SET"), b("big:string"), b("y".repeat(3_000_000))]);
    cmds.push(vec![b("PEXPIREAT"), b("str:1"), b("4102444800123")]);
    for i in 0..300 {
        cmds.push(vec![b("RPUSH"), b("list:big"), b(format!("element-{i}"))]);
        cmds.push(vec![
            b("HSET"),
            b("hash:big"),
            b(format!("f{i}")),
            b("v".repeat(i % 100)),
        ]);
        cmds.push(vec![b("SADD"), b("set:ints"), b(i.to_string())]);
        cmds.push(vec![b("SADD"), b("set:strs"), b(format!("m{i}"))]);
        cmds.push(vec![
            b("ZADD"),
            b("zset:big"),
            b(i.to_string()),
            b(format!("z{i}")),
        ]);
        cmds.push(vec![
            b("XADD"),
            b("stream:1"),
            b("*"),
            b("k"),
            b(i.to_string()),
        ]);
    }
    for i in 0..5 {
        cmds.push(vec![b("RPUSH"), b("list:small"), b(i.to_string())]);
        cmds.push(vec![b("HSET"), b("hash:small"), b(format!("f{i}")), b("v")]);
        cmds.push(vec![
            b("ZADD"),
            b("zset:small"),
            b(i.to_string()),
            b(format!("z{i}")),
        ]);
    }
    cmds.push(vec![b("SELECT"), b("3")]);
    cmds.push(vec![b("SET"), b("in-db-3"), b("v")]);
    cmds
}

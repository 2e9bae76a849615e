//! A ClickHouse server for tests: the real ClickHouse engine (PyPI `chdb-core`) behind the
//! HTTP interface (`tests/clickhouse-http/chdb_http_server.py`), started on a free loopback
//! port, or the server named by `RDBINSIGHT_TEST_CLICKHOUSE_URL`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdbinsight_sink_clickhouse::url::ClickhouseUrl;

use crate::redis::free_port;

/// A running server: ours (killed on drop) or an external one.
pub struct ChServer {
    url: ClickhouseUrl,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    auth: Option<(String, String)>,
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RDBINSIGHT_TEST_CHDB_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    for p in [
        home.join(".cache/rdbinsight/chdb-venv/bin/python"),
        PathBuf::from("/opt/chdb-venv/bin/python"),
    ] {
        if p.exists() {
            return p;
        }
    }
    panic!(
        "no Python with chdb-core found (looked at RDBINSIGHT_TEST_CHDB_PYTHON, \
         ~/.cache/rdbinsight/chdb-venv, /opt/chdb-venv): run tests/run.sh, which installs it, \
         or set RDBINSIGHT_TEST_CLICKHOUSE_URL to a real server"
    );
}

fn shim() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clickhouse-http/chdb_http_server.py")
}

impl ChServer {
    /// The server of `RDBINSIGHT_TEST_CLICKHOUSE_URL`, else a fresh local one.
    pub fn shared_or_local() -> ChServer {
        match std::env::var("RDBINSIGHT_TEST_CLICKHOUSE_URL") {
            Ok(url) if !url.is_empty() => ChServer {
                url: ClickhouseUrl::parse(&url).expect("RDBINSIGHT_TEST_CLICKHOUSE_URL parses"),
                child: None,
                dir: None,
                auth: None,
            },
            _ => ChServer::local(None),
        }
    }

    /// A local server (always ours: for tests that stop it), optionally requiring a password.
    pub fn local(auth: Option<(&str, &str)>) -> ChServer {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ChServer {
            url: ClickhouseUrl::parse("http://127.0.0.1:1/").unwrap(),
            child: None,
            dir: Some(dir),
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
        };
        s.start_on(free_port());
        s
    }

    /// Starts (or restarts) our server on `port` over the same data directory.
    pub fn start_on(&mut self, port: u16) {
        let dir = self
            .dir
            .as_ref()
            .expect("a local server")
            .path()
            .join("data");
        let mut cmd = Command::new(python());
        cmd.arg(shim())
            .arg("--path")
            .arg(&dir)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut url = format!("http://127.0.0.1:{port}/");
        if let Some((u, p)) = &self.auth {
            cmd.args(["--user", u, "--password", p]);
            url = format!("http://{u}:{p}@127.0.0.1:{port}/");
        }
        self.child = Some(cmd.spawn().expect("start the chDB HTTP server"));
        self.url = ClickhouseUrl::parse(&url).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.try_query("SELECT 1").is_ok_and(|s| s.trim() == "1") {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the chDB HTTP server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the chDB HTTP server did not answer in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL our server (the data directory stays).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Port of the server.
    pub fn port(&self) -> u16 {
        self.url.port
    }

    /// A new empty database; returns its name.
    pub fn fresh_database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "rdbi_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.query(&format!("DROP DATABASE IF EXISTS {name}"));
        self.query(&format!("CREATE DATABASE {name}"));
        name
    }

    /// The sink URL for `database`, with credentials.
    pub fn url_for(&self, database: &str) -> String {
        let auth = match &self.auth {
            Some((u, p)) => format!("{u}:{p}@"),
            None if self.url.password.expose().is_empty() && self.url.user == "default" => {
                String::new()
            }
            None => format!("{}:{}@", self.url.user, self.url.password.expose()),
        };
        format!(
            "{}://{auth}{}:{}/?database={database}",
            self.url.scheme, self.url.host, self.url.port
        )
    }

    fn try_query(&self, sql: &str) -> Result<String, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let mut req = agent
            .post(self.url.endpoint())
            .header("X-ClickHouse-User", &self.url.user);
        if !self.url.password.expose().is_empty() {
            req = req.header("X-ClickHouse-Key", self.url.password.expose());
        }
        let mut resp = req.send(sql.as_bytes()).map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        if status == 200 {
            Ok(body)
        } else {
            Err(format!("HTTP {status}: {body}"))
        }
    }

    /// Runs SQL, panicking with the server's message on error.
    pub fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .unwrap_or_else(|e| panic!("ClickHouse query failed: {sql}\n{e}"))
    }
}

impl Drop for ChServer {
    fn drop(&mut self) {
        self.kill();
    }
}

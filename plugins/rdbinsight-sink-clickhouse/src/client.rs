//! A blocking ClickHouse HTTP client: one request per statement, retries with backoff on
//! transient failures, credentials in headers, error texts from the server's body.
//!
//! Callers in async code run it under `tokio::task::spawn_blocking`.

use std::time::Duration;

use anyhow::{anyhow, Result};
use ureq::http::Response;
use ureq::Body;

use crate::url::ClickhouseUrl;

/// ClickHouse error codes worth another attempt: the server is overloaded, restarting or lost
/// the connection, not the request being wrong.
const TRANSIENT_CODES: [u32; 12] = [
    3,   // UNEXPECTED_END_OF_FILE
    159, // TIMEOUT_EXCEEDED
    164, // READONLY (a replica in read-only mode while its keeper reconnects)
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    319, // UNKNOWN_STATUS_OF_INSERT
    425, // SYSTEM_ERROR
    999, // KEEPER_EXCEPTION
];

/// How requests are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub retries: u32,
    /// Wait before the first retry; doubled each time, capped at [`RetryPolicy::max_backoff`].
    pub first_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .first_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        // Up to 25% jitter so that concurrent instances do not retry in lockstep.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        exp + exp.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }
}

/// Why one attempt failed.
enum Failure {
    /// Worth another attempt.
    Transient(anyhow::Error),
    /// The request itself is wrong: retrying cannot help.
    Permanent(anyhow::Error),
}

/// One HTTP request to ClickHouse.
pub struct Request<'a> {
    /// SQL: sent as the body, or as the `query` parameter when there is a data body.
    pub sql: &'a str,
    /// Data following the statement (INSERT ... FORMAT x), already encoded.
    pub data: Option<&'a [u8]>,
    /// `Content-Encoding` of the data.
    pub content_encoding: Option<&'static str>,
    /// ClickHouse settings and `param_<name>` query parameters.
    pub params: Vec<(String, String)>,
}

impl<'a> Request<'a> {
    /// A statement without data.
    pub fn sql(sql: &'a str) -> Self {
        Self {
            sql,
            data: None,
            content_encoding: None,
            params: Vec::new(),
        }
    }

    /// Adds a query parameter `{name:Type}` of the statement.
    pub fn param(mut self, name: &str, value: impl ToString) -> Self {
        self.params
            .push((format!("param_{name}"), value.to_string()));
        self
    }

    /// Adds a ClickHouse setting for this request.
    pub fn setting(mut self, name: &str, value: impl ToString) -> Self {
        self.params.push((name.to_string(), value.to_string()));
        self
    }
}

/// A connection pool to one ClickHouse server and database.
pub struct Client {
    agent: ureq::Agent,
    url: ClickhouseUrl,
    retry: RetryPolicy,
}

impl Client {
    /// Builds the client; `proxy` is an HTTP proxy URL.
    pub fn new(
        url: ClickhouseUrl,
        proxy: Option<&str>,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let proxy = match proxy {
            None => None,
            Some(p) => Some(
                ureq::Proxy::new(p)
                    .map_err(|e| anyhow!("--proxy-url is not a usable proxy URL: {e}"))?,
            ),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(proxy)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(timeout))
            .user_agent(concat!("rdbinsight/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self { agent, url, retry })
    }

    /// The server and database, for messages (no password).
    pub fn url(&self) -> &ClickhouseUrl {
        &self.url
    }

    /// Runs a statement and returns the response body as text, retrying transient failures.
    /// Only for idempotent statements (reads, `IF NOT EXISTS` DDL, deduplicated inserts).
    pub fn execute(&self, req: &Request<'_>) -> Result<String> {
        let mut body = self.send(req)?;
        body.body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| anyhow!("ClickHouse at {}: reading the response: {e}", self.url))
    }

    fn send(&self, req: &Request<'_>) -> Result<Response<Body>> {
        let mut attempt = 0;
        loop {
            match self.send_once(req) {
                Ok(resp) => return Ok(resp),
                Err(Failure::Permanent(e)) => return Err(e),
                Err(Failure::Transient(e)) if attempt >= self.retry.retries => {
                    return Err(e.context(format!(
                        "ClickHouse at {} failed {} time(s) in a row",
                        self.url,
                        attempt + 1
                    )))
                }
                Err(Failure::Transient(e)) => {
                    let wait = self.retry.backoff(attempt);
                    attempt += 1;
                    tracing::warn!(
                        operation = "clickhouse_request",
                        attempt,
                        of = self.retry.retries,
                        wait_ms = wait.as_millis() as u64,
                        error = %format!("{e:#}"),
                        "ClickHouse request failed, retrying"
                    );
                    std::thread::sleep(wait);
                }
            }
        }
    }

    fn send_once(&self, req: &Request<'_>) -> Result<Response<Body>, Failure> {
        let mut builder = self
            .agent
            .post(self.url.endpoint())
            .header("X-ClickHouse-User", &self.url.user)
            .query("database", &self.url.database);
        if !self.url.password.expose().is_empty() {
            builder = builder.header("X-ClickHouse-Key", self.url.password.expose());
        }
        for (k, v) in &req.params {
            builder = builder.query(k, v);
        }
        let result = match req.data {
            Some(data) => {
                builder = builder.query("query", req.sql);
                if let Some(enc) = req.content_encoding {
                    builder = builder.header("Content-Encoding", enc);
                }
                builder.send(data)
            }
            None => builder.send(req.sql.as_bytes()),
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => return Err(classify_transport(e, &self.url)),
        };
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(resp);
        }
        let code: Option<u32> = resp
            .headers()
            .get("X-ClickHouse-Exception-Code")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let mut text = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .unwrap_or_default();
        text = shorten(text.trim(), 600);
        let err = anyhow!("ClickHouse at {} answered HTTP {status}: {text}", self.url);
        let transient = matches!(status, 408 | 429 | 502 | 503 | 504)
            || code.is_some_and(|c| TRANSIENT_CODES.contains(&c));
        Err(if transient {
            Failure::Transient(err)
        } else {
            Failure::Permanent(err)
        })
    }
}

fn classify_transport(e: ureq::Error, url: &ClickhouseUrl) -> Failure {
    let transient = matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    );
    let err = anyhow!("cannot reach ClickHouse at {url}: {e}");
    if transient {
        Failure::Transient(err)
    } else {
        Failure::Permanent(err)
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            retries: 10,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        };
        assert!(p.backoff(0) >= Duration::from_millis(100));
        assert!(p.backoff(0) <= Duration::from_millis(125));
        assert!(p.backoff(3) >= Duration::from_millis(800));
        assert!(p.backoff(30) <= Duration::from_millis(2500));
    }

    #[test]
    fn shorten_cuts_at_char_boundaries() {
        assert_eq!(shorten("héllo", 2), "h...");
        assert_eq!(shorten("abc", 5), "abc");
    }
}

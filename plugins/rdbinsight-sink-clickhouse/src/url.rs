//! The `--url` of the sink: `http[s]://[user[:password]@]host[:port][/]?database=<db>`.
//!
//! Credentials are split off the URL at parse time: requests carry them in ClickHouse's
//! `X-ClickHouse-User` / `X-ClickHouse-Key` headers, so no URL that reaches a log, an error or a
//! printed config ever holds the password.

use std::fmt;

use anyhow::{bail, ensure, Context, Result};
use rdbinsight_sink_api::Redacted;
use serde::Serialize;

/// A parsed ClickHouse HTTP endpoint.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ClickhouseUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or address (IPv6 in brackets).
    pub host: String,
    /// Port (default 8123 for http, 8443 for https).
    pub port: u16,
    /// Database holding the tables.
    pub database: String,
    /// User name (default `default`).
    pub user: String,
    /// Password, empty when none was given.
    pub password: Redacted<String>,
}

impl ClickhouseUrl {
    /// Parses the URL; errors never repeat the password.
    pub fn parse(text: &str) -> Result<Self> {
        let (scheme, rest) = text
            .split_once("://")
            .context("the ClickHouse URL must start with http:// or https://")?;
        let scheme = scheme.to_ascii_lowercase();
        ensure!(
            scheme == "http" || scheme == "https",
            "the ClickHouse URL scheme must be http or https, not {scheme:?}"
        );
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => ("default".to_string(), String::new()),
            Some(u) => {
                let (name, pass) = u.split_once(':').unwrap_or((u, ""));
                (
                    percent_decode(name).context("the user name in the ClickHouse URL")?,
                    percent_decode(pass).context("the password in the ClickHouse URL")?,
                )
            }
        };
        let user = if user.is_empty() {
            "default".into()
        } else {
            user
        };
        let default_port = if scheme == "https" { 8443 } else { 8123 };
        let (host, port) = split_host_port(hostport, default_port)?;
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        ensure!(
            path.is_empty() || path == "/",
            "the ClickHouse URL must not have a path (got {path:?}); name the database with ?database=<db>"
        );
        let mut database = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "database" => database = Some(percent_decode(v).context("?database=")?),
                other => bail!(
                    "unknown parameter {other:?} in the ClickHouse URL (only database=<db> is read)"
                ),
            }
        }
        let database = database.unwrap_or_else(|| "default".into());
        ensure!(!database.is_empty(), "?database= names no database");
        Ok(Self {
            scheme,
            host,
            port,
            database,
            user,
            password: Redacted::new(password),
        })
    }

    /// The base URL requests go to, without credentials.
    pub fn endpoint(&self) -> String {
        format!("{}://{}:{}/", self.scheme, self.host, self.port)
    }
}

/// Shown as `http://user:***@host:port/?database=db`.
impl fmt::Display for ClickhouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pass = if self.password.expose().is_empty() {
            ""
        } else {
            ":***"
        };
        write!(
            f,
            "{}://{}{}@{}:{}/?database={}",
            self.scheme, self.user, pass, self.host, self.port, self.database
        )
    }
}

impl fmt::Debug for ClickhouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn split_host_port(hostport: &str, default_port: u16) -> Result<(String, u16)> {
    ensure!(!hostport.is_empty(), "the ClickHouse URL names no host");
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .context("unclosed [ in the ClickHouse URL's host")?;
        (format!("[{h}]"), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    ensure!(!host.is_empty(), "the ClickHouse URL names no host");
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse()
            .with_context(|| format!("{p:?} is not a port number"))?,
    };
    Ok((host, port))
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .context("bad %-escape")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("not UTF-8 after %-decoding")
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_part() {
        let u = ClickhouseUrl::parse("http://bob:s%40cret@ch.local:9000/?database=redis").unwrap();
        assert_eq!(u.user, "bob");
        assert_eq!(u.password.expose(), "s@cret");
        assert_eq!(u.host, "ch.local");
        assert_eq!(u.port, 9000);
        assert_eq!(u.database, "redis");
        assert_eq!(u.endpoint(), "http://ch.local:9000/");
        assert_eq!(
            u.to_string(),
            "http://bob:***@ch.local:9000/?database=redis"
        );
        assert!(!format!("{u:?}").contains("cret"));
    }

    #[test]
    fn defaults() {
        let u = ClickhouseUrl::parse("https://[::1]").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 8443));
        assert_eq!(
            (u.user.as_str(), u.database.as_str()),
            ("default", "default")
        );
    }

    #[test]
    fn errors_do_not_repeat_the_password() {
        for bad in [
            "ftp://u:hunter2@h/",
            "http://u:hunter2@h:notaport/",
            "http://u:hunter2@h/db",
            "http://u:hunter2@h/?db=x",
            "http://u:hunter2@/",
        ] {
            let err = format!("{:#}", ClickhouseUrl::parse(bad).unwrap_err());
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}

//! Finding completed batches, for `rdbinsight report from-clickhouse` (which aggregates them
//! in SQL through the view).

use anyhow::{bail, Context, Result};

use crate::client::{Client, Request};
use crate::schema::{self, qualified};

/// The completed batches of a cluster, newest first, as nanoseconds since the epoch.
pub fn completed_batches(client: &Client, cluster: &str) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT DISTINCT toUnixTimestamp64Nano(batch) AS b FROM {} WHERE cluster = {{cluster:String}} \
         ORDER BY b DESC FORMAT TabSeparated",
        qualified(&client.url().database, schema::COMPLETED_TABLE)
    );
    let text = client.execute(&Request::sql(&sql).param("cluster", cluster))?;
    text.lines()
        .map(|l| {
            l.trim()
                .parse::<i64>()
                .with_context(|| format!("unexpected batch value from ClickHouse: {l:?}"))
        })
        .collect()
}

/// Picks `wanted` (checked to be complete) or the newest completed batch of `cluster`.
pub fn find_batch(client: &Client, cluster: &str, wanted: Option<i64>) -> Result<i64> {
    let batches = completed_batches(client, cluster)?;
    match wanted {
        Some(b) if batches.contains(&b) => Ok(b),
        Some(b) => bail!(
            "cluster {cluster:?} has no completed batch {b} in ClickHouse {} (completed: {})",
            client.url(),
            batches
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => batches.first().copied().with_context(|| {
            format!(
                "cluster {cluster:?} has no completed batch in ClickHouse {}",
                client.url()
            )
        }),
    }
}

/// A client for reading, with the sink's default timeouts and retries.
pub fn connect(url: &str) -> Result<Client> {
    use std::time::Duration;
    Client::new(
        crate::url::ClickhouseUrl::parse(url)?,
        None,
        Duration::from_secs(600),
        crate::client::RetryPolicy {
            retries: 5,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        },
    )
}

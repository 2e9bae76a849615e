//! Reading completed batches back through the view, for `rdbinsight report from-clickhouse`.

use anyhow::{bail, Context, Result};
use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use rdbinsight_sink_api::record_schema;

use crate::client::{Client, Request};
use crate::schema::{self, qualified, RAW_COLUMNS};
use crate::setup::{batch_params, BATCH_FILTER};

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

/// Streams every row of one completed batch, through the view, as record batches with the
/// exact record schema.
pub fn for_each_batch(
    client: &Client,
    cluster: &str,
    batch_nanos: i64,
    mut f: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<u64> {
    let columns: Vec<String> = RAW_COLUMNS.iter().map(|(n, _)| schema::ident(n)).collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {BATCH_FILTER} FORMAT ArrowStream",
        columns.join(", "),
        qualified(&client.url().database, schema::VIEW)
    );
    let req = batch_params(Request::sql(&sql), cluster, batch_nanos)
        .setting("output_format_arrow_low_cardinality_as_dictionary", 0)
        .setting("output_format_arrow_string_as_string", 0)
        .setting("output_format_arrow_compression_method", "lz4_frame");
    let body = client.stream(&req)?;
    let reader = StreamReader::try_new(std::io::BufReader::with_capacity(1 << 20, body), None)
        .context("reading ArrowStream from ClickHouse")?;
    let schema = record_schema();
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.context("reading ArrowStream from ClickHouse")?;
        let columns = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| {
                arrow_cast::cast(column, field.data_type())
                    .with_context(|| format!("column {} from ClickHouse", field.name()))
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .context("rows from ClickHouse do not fit the record schema")?;
        rows += batch.num_rows() as u64;
        f(&batch)?;
    }
    Ok(rows)
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

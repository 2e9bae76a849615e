//! What a run does on the server before its first insert: check (or create) the schema, refuse
//! a batch that is already complete, and remove the invisible leftovers of an earlier failed
//! attempt at the same batch.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use crate::client::{Client, Request};
use crate::schema::{self, qualified, SchemaObject};

/// Checks that the schema exists as [`schema::objects`] describes it; with `create`, creates
/// the missing objects in the URL's database. A differing existing object is always an error.
pub fn ensure_schema(client: &Client, create: bool, ttl_days: u32) -> Result<()> {
    let database = client.url().database.clone();
    let objects = schema::objects(&database, ttl_days);
    let existing = existing_columns(client, &database)?;
    let mut missing: Vec<&SchemaObject> = Vec::new();
    for object in &objects {
        match existing.get(object.name) {
            None => missing.push(object),
            Some(have) => check_columns(&database, object, have)?,
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|o| o.name).collect();
    if !create {
        bail!(
            "ClickHouse database `{database}` lacks {}: run with --auto-create-tables, or execute \
             the output of `rdbinsight misc clickhouse-schema --database {database}`",
            names.join(", ")
        );
    }
    let exists: String = client
        .execute(
            &Request::sql("SELECT count() FROM system.databases WHERE name = {db:String}")
                .param("db", &database),
        )
        .context("checking the database")?;
    if exists.trim() != "1" {
        bail!("ClickHouse has no database `{database}` (create it, or name another in ?database=)");
    }
    for object in missing {
        tracing::info!(operation = "create_schema", database = %database, object = object.name, "creating");
        client
            .execute(&Request::sql(&object.create))
            .with_context(|| format!("creating {}", qualified(&database, object.name)))?;
    }
    // Another process may have raced us to it: check what is there now.
    let existing = existing_columns(client, &database)?;
    for object in &objects {
        let have = existing
            .get(object.name)
            .with_context(|| format!("{} was not created", object.name))?;
        check_columns(&database, object, have)?;
    }
    Ok(())
}

type Columns = Vec<(String, String)>;

fn existing_columns(client: &Client, database: &str) -> Result<BTreeMap<String, Columns>> {
    let text = client
        .execute(
            &Request::sql(
                "SELECT table, name, type FROM system.columns \
                 WHERE database = {db:String} AND table IN ({t1:String}, {t2:String}, {t3:String}) \
                 ORDER BY table, position FORMAT TabSeparatedRaw",
            )
            .param("db", database)
            .param("t1", schema::RAW_TABLE)
            .param("t2", schema::COMPLETED_TABLE)
            .param("t3", schema::VIEW),
        )
        .context("reading the schema from system.columns")?;
    let mut map: BTreeMap<String, Columns> = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(table), Some(name), Some(ty)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("unexpected line from system.columns: {line:?}");
        };
        map.entry(table.to_string())
            .or_default()
            .push((name.to_string(), ty.to_string()));
    }
    Ok(map)
}

fn check_columns(database: &str, object: &SchemaObject, have: &Columns) -> Result<()> {
    let want: Columns = object
        .columns
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    if &want == have {
        return Ok(());
    }
    let show = |cols: &Columns| {
        cols.iter()
            .map(|(n, t)| format!("{n} {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    bail!(
        "{} exists with another schema; refusing to use or change it.\n  expected: {}\n  found:    {}",
        qualified(database, object.name),
        show(&want),
        show(have)
    )
}

/// The SQL condition selecting one batch's rows; takes parameters `cluster` and `batch`.
pub const BATCH_FILTER: &str =
    "cluster = {cluster:String} AND batch = fromUnixTimestamp64Nano({batch:Int64}, 'UTC')";

/// Adds the `cluster` and `batch` parameters of [`BATCH_FILTER`].
pub fn batch_params<'a>(req: Request<'a>, cluster: &str, batch_nanos: i64) -> Request<'a> {
    req.param("cluster", cluster).param("batch", batch_nanos)
}

/// Refuses a batch that is already complete and deletes rows an earlier failed attempt at the
/// same batch left in the raw table.
pub fn prepare_batch(client: &Client, cluster: &str, batch_nanos: i64) -> Result<()> {
    if count_batch(client, schema::COMPLETED_TABLE, cluster, batch_nanos)? != 0 {
        bail!(
            "batch {batch_nanos} of cluster {cluster:?} is already complete in {}; a completed batch is never rewritten",
            qualified(&client.url().database, schema::COMPLETED_TABLE)
        );
    }
    let leftovers = count_batch(client, schema::RAW_TABLE, cluster, batch_nanos)?;
    if leftovers != 0 {
        tracing::warn!(
            operation = "remove_leftovers",
            cluster,
            batch = batch_nanos,
            rows = leftovers,
            "removing the rows a failed attempt at this batch left (they were never visible)"
        );
        delete_batch(client, cluster, batch_nanos)?;
    }
    Ok(())
}

/// Deletes one batch's rows from the raw table (they are invisible while the batch has no
/// completion marker).
pub fn delete_batch(client: &Client, cluster: &str, batch_nanos: i64) -> Result<()> {
    let raw = qualified(&client.url().database, schema::RAW_TABLE);
    let sql = format!("DELETE FROM {raw} WHERE {BATCH_FILTER}");
    client
        .execute(&batch_params(Request::sql(&sql), cluster, batch_nanos))
        .with_context(|| format!("deleting the rows of batch {batch_nanos} from {raw}"))?;
    Ok(())
}

/// Rows of one batch in `table` (the raw table, or the completed-batches table).
pub fn count_batch(client: &Client, table: &str, cluster: &str, batch_nanos: i64) -> Result<u64> {
    let table = qualified(&client.url().database, table);
    let sql = format!("SELECT count() FROM {table} WHERE {BATCH_FILTER}");
    let text = client.execute(&batch_params(Request::sql(&sql), cluster, batch_nanos))?;
    text.trim()
        .parse()
        .with_context(|| format!("unexpected count from ClickHouse: {text:?}"))
}

//! `into-parquet`: one Parquet file per instance, published atomically per batch.
//!
//! Layout: `<dir>/cluster=<cluster>/batch=<YYYY-MM-DD_HH-mm-ss.nnnnnnnnnZ>/<instance>.parquet`
//! plus `_manifest.json`. While a run is in progress everything lives under
//! `_tmp_batch=<slug>/` as `*.parquet.tmp`; each file is renamed when its instance finishes and
//! the directory is renamed to `batch=<slug>` when every instance has finished, so a `batch=`
//! directory is always complete. A failed run renames nothing and keeps its leftovers.
//!
//! Rows inside each file are sorted by (db, key) with an external sort bounded by
//! `--max-memory`; the file's `sorting_columns` metadata says so. Schema: exactly the record
//! schema of the SDK.

mod chunk;
mod column_pages;
mod config;
mod constant_chunks;
mod constants;
mod decode_guard;
mod delta;
mod dict_chunk;
mod dict_pages;
mod early_sync;
mod int_chunks;
mod int_pages;
mod key_chunks;
mod key_pages;
mod mapped;
mod name_chunks;
pub mod path;
pub mod reader;
mod sink;
mod sort;
mod varint;
mod write;

pub use config::{parse_size, Codec, ParquetArgs, ParquetConfig};
pub use sink::MANIFEST;

rdbinsight_sink_api::register_sink!(
    ParquetArgs,
    name = "parquet",
    about = "Parquet files, one per instance, sorted by (db, key), published atomically per batch"
);

#[cfg(test)]
mod tests {
    use super::*;
    use rdbinsight_sink_api::testing::{run_conformance, INSTANCES, ROWS_PER_INSTANCE};
    use rdbinsight_sink_api::SinkConfig;

    #[tokio::test]
    async fn conformance_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ParquetConfig::new(dir.path());
        cfg.max_memory = 1 << 20;
        cfg.validate().unwrap();
        let report = run_conformance(&cfg, "c/../x").await.unwrap();
        let cluster_dir = dir.path().join("cluster=c%2F..%2Fx");
        let slug = path::format_batch_dir(report.committed_run.batch_unix_nanos);
        let batch_dir = cluster_dir.join(format!("batch={slug}"));
        assert_eq!(report.committed.location, batch_dir.display().to_string());
        let mut files: Vec<String> = std::fs::read_dir(&batch_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            vec![
                "10.0.0.1-6379.parquet",
                "10.0.0.2-6380.parquet",
                "_manifest.json"
            ]
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(batch_dir.join(MANIFEST)).unwrap()).unwrap();
        assert_eq!(
            manifest["rows"],
            (INSTANCES.len() * ROWS_PER_INSTANCE) as u64
        );
        assert_eq!(manifest["config"]["compression"], "zstd");
        // Each file holds its instance's rows sorted by (db, key), every cell kept: the first
        // instance came through the row encoder, the second through record batches.
        for instance in INSTANCES {
            let file = batch_dir.join(format!(
                "{}.parquet",
                path::sanitize_instance_filename(instance)
            ));
            let file = std::fs::File::open(file).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
            let got: Vec<Vec<String>> = reader.flat_map(|b| rows_as_text(&b.unwrap())).collect();
            let sample = rdbinsight_sink_api::testing::sample_batch(
                &report.committed_run,
                instance,
                0,
                ROWS_PER_INSTANCE,
            );
            let mut want = rows_as_text(&sample);
            let db_key = |r: &Vec<String>| (r[3].parse::<i64>().unwrap(), r[4].clone());
            want.sort_by_key(db_key);
            assert_eq!(got.len(), want.len(), "{instance}");
            assert!(got == want, "{instance}: rows differ from what was written");
        }
        // The aborted run is not published; its leftovers stay under _tmp_batch=.
        let aborted = path::format_batch_dir(report.aborted_run.batch_unix_nanos);
        assert!(!cluster_dir.join(format!("batch={aborted}")).exists());
        assert!(cluster_dir.join(format!("_tmp_batch={aborted}")).exists());
    }

    /// The rows of `batch`, each as the text of its cells.
    fn rows_as_text(batch: &arrow_array::RecordBatch) -> Vec<Vec<String>> {
        (0..batch.num_rows())
            .map(|r| batch.columns().iter().map(|c| cell(c, r)).collect())
            .collect()
    }

    /// Every cell of `array` at `row` as text (the types of the record schema).
    fn cell(array: &dyn arrow_array::Array, row: usize) -> String {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{
            Int32Type, Int64Type, TimestampMillisecondType, TimestampNanosecondType,
        };
        use arrow_schema::{DataType, TimeUnit};
        if array.is_null(row) {
            return "null".into();
        }
        match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().value(row).into(),
            DataType::Dictionary(..) => {
                let dict = array.as_dictionary::<Int32Type>();
                let key = dict.keys().value(row) as usize;
                dict.values().as_string::<i32>().value(key).into()
            }
            DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
            DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => array
                .as_primitive::<TimestampNanosecondType>()
                .value(row)
                .to_string(),
            DataType::Timestamp(TimeUnit::Millisecond, _) => array
                .as_primitive::<TimestampMillisecondType>()
                .value(row)
                .to_string(),
            DataType::Binary => format!("{:?}", array.as_binary::<i32>().value(row)),
            other => panic!("unexpected type {other}"),
        }
    }

    /// The report's fast read (keys from their pages, constant columns filled, all-null ones
    /// left out) gives what a plain Arrow read gives, cell by cell.
    #[tokio::test]
    async fn fast_reads_equal_plain_reads() {
        use rdbinsight_sink_api::keys::KeyCursor;
        use rdbinsight_sink_api::schema::{self, record_schema};
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ParquetConfig::new(dir.path());
        cfg.max_memory = 1 << 20;
        let report = run_conformance(&cfg, "c").await.unwrap();
        let batch_dir = std::path::PathBuf::from(report.committed.location);
        let schema = record_schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let dictionary = [schema::INSTANCE, schema::TYPE, schema::ENCODING];
        let mut plain = Vec::new();
        reader::for_each_batch(&batch_dir, &columns, &dictionary, |b| {
            plain.push(b.clone());
            Ok(())
        })
        .unwrap();
        let (mut fast, mut keys) = (Vec::new(), Vec::new());
        let mut cursor = KeyCursor::new();
        reader::for_each_batch_with_keys(&batch_dir, &columns, &dictionary, schema::KEY, |b, k| {
            cursor
                .walk(&k, |_, key, _| keys.push(format!("{key:?}")))
                .unwrap();
            fast.push(b.clone());
            Ok(())
        })
        .unwrap();
        let rows = |batches: &[arrow_array::RecordBatch], name: &str| -> Vec<String> {
            batches
                .iter()
                .flat_map(|b| match b.column_by_name(name) {
                    Some(c) => (0..b.num_rows()).map(|r| cell(c, r)).collect::<Vec<_>>(),
                    None => vec!["null".to_string(); b.num_rows()],
                })
                .collect()
        };
        let total: usize = plain.iter().map(|b| b.num_rows()).sum();
        assert_eq!(total, INSTANCES.len() * ROWS_PER_INSTANCE);
        for name in &columns {
            let want = rows(&plain, name);
            let got = if *name == schema::KEY {
                keys.clone()
            } else {
                rows(&fast, name)
            };
            assert_eq!(got, want, "column {name}");
        }
        // The fast read left the key out and filled the one-valued columns.
        assert!(fast.iter().all(|b| b.column_by_name(schema::KEY).is_none()));
        assert!(fast
            .iter()
            .all(|b| b.column_by_name(schema::INSTANCE).is_some()));
    }

    /// Damaged files give errors naming the file, never a panic, wherever the damage is.
    #[tokio::test]
    async fn damaged_files_are_errors_not_panics() {
        use rdbinsight_sink_api::schema::{self, record_schema};
        let dir = tempfile::tempdir().unwrap();
        let report = run_conformance(&ParquetConfig::new(dir.path()), "c")
            .await
            .unwrap();
        let batch_dir = std::path::PathBuf::from(report.committed.location);
        let file = reader::batch_files(&batch_dir).unwrap().remove(0);
        let good = std::fs::read(&file).unwrap();
        let schema = record_schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let dictionary = [schema::INSTANCE, schema::TYPE, schema::ENCODING];
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut errors = 0;
        for i in 0..64 {
            let mut bad = good.clone();
            let at = 4 + (bad.len() - 8) * i / 64;
            for b in &mut bad[at..(at + 16).min(good.len() - 4)] {
                *b ^= 0x5a;
            }
            std::fs::write(&file, &bad).unwrap();
            let read = reader::for_each_batch_with_keys(
                &batch_dir,
                &columns,
                &dictionary,
                schema::KEY,
                |_, _| Ok(()),
            );
            if let Err(e) = read {
                errors += 1;
                assert!(format!("{e:#}").contains(&name), "{e:#}");
            }
        }
        std::fs::write(&file, &good).unwrap();
        assert!(errors > 0, "no damage was noticed");
    }

    #[tokio::test]
    async fn runs_in_the_same_millisecond_get_two_batches() {
        use rdbinsight_sink_api::RunInfo;
        let dir = tempfile::tempdir().unwrap();
        let cfg = ParquetConfig::new(dir.path());
        let run = |ns| RunInfo {
            cluster: "c".into(),
            batch_unix_nanos: ns,
            tool_version: "t".into(),
        };
        // 1 ns apart: the same millisecond, different batches.
        let a = cfg.open_run(&run(1_767_225_600_123_000_001)).await.unwrap();
        let b = cfg.open_run(&run(1_767_225_600_123_000_002)).await.unwrap();
        let (a, b) = (a.finish_run().await.unwrap(), b.finish_run().await.unwrap());
        assert_ne!(a.location, b.location);
        assert!(
            std::path::Path::new(&a.location).is_dir()
                && std::path::Path::new(&b.location).is_dir()
        );
        // The very same instant cannot silently share a directory.
        let c = cfg.open_run(&run(1_767_225_600_123_000_001)).await;
        assert!(c.is_err());
    }
}

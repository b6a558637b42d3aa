//! One destination conformance suite, run against local disk, memory, and — when the test script
//! has started them (`tests/servers/servers.sh`) — real local S3 (moto), GCS (our XML-API server)
//! and Azure (Azurite) servers; plus an export through the real binary into each cloud, read back
//! with `ParquetObjectReader::with_file_size` and compared byte for byte with a local export.

use std::sync::Arc;

use botevents::commit::{StateError, StateStore};
use botevents::write::{Destination, ObjectFileReader};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use tokio::io::AsyncWriteExt;

const NOW: &str = "2026-11-24T12:00:00Z";

/// The URL of a cloud test server, or `None` (skip) when the servers are not running. Under the
/// test script (`BOTEVENTS_TEST_SERVERS=1`) a missing server is a failure, never a skip.
fn server(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("BOTEVENTS_TEST_SERVERS").is_err(),
                "{var} is not set although the test servers are supposed to be running"
            );
            eprintln!("skipping: {var} not set (run scripts/test.sh, which starts the local servers)");
            None
        }
    }
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), fastrand::u64(..))
}

fn open(url: &str) -> Destination {
    Destination::open(url, &botevents::config::Env::new(std::env::vars(), Vec::new()).store_options()).unwrap()
}

/// The conformance suite: what `botevents` relies on from a store.
async fn conformance(store: Arc<dyn ObjectStore>, prefix: &Path, conditional_update: bool) {
    let p = |name: &str| Path::from_iter(prefix.parts().chain(Path::from(name).parts()));
    // Put, get, head, range.
    let data = Bytes::from((0..100_000u32).flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>());
    store.put(&p("a.bin"), PutPayload::from(data.clone())).await.unwrap();
    assert_eq!(store.get(&p("a.bin")).await.unwrap().bytes().await.unwrap(), data);
    let meta = store.head(&p("a.bin")).await.unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(store.get_range(&p("a.bin"), 10..20).await.unwrap(), data.slice(10..20));

    // A large file through the buffered writer: multipart, visible only when complete.
    let big = Bytes::from(vec![7u8; 12 * 1024 * 1024 + 123]);
    let mut w = BufWriter::with_capacity(store.clone(), p("big.bin"), 5 * 1024 * 1024);
    for chunk in big.chunks(1024 * 1024) {
        w.put(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert!(store.head(&p("big.bin")).await.is_err(), "a multipart upload is invisible until complete");
    w.shutdown().await.unwrap();
    assert_eq!(store.get(&p("big.bin")).await.unwrap().bytes().await.unwrap(), big);

    // An aborted upload leaves no object.
    let mut w = BufWriter::with_capacity(store.clone(), p("aborted.bin"), 5 * 1024 * 1024);
    for chunk in big.chunks(1024 * 1024) {
        w.put(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    w.abort().await.unwrap();
    assert!(matches!(store.head(&p("aborted.bin")).await, Err(object_store::Error::NotFound { .. })));

    // Listing, with and without a delimiter.
    store.put(&p("dir/x.parquet"), PutPayload::from_static(b"x")).await.unwrap();
    store.put(&p("dir/sub/y.parquet"), PutPayload::from_static(b"y")).await.unwrap();
    let all: Vec<_> = store.list(Some(prefix)).try_collect().await.unwrap();
    let mut names: Vec<String> = all.iter().map(|m| m.location.to_string()).collect();
    names.sort();
    let want: Vec<String> =
        ["a.bin", "big.bin", "dir/sub/y.parquet", "dir/x.parquet"].iter().map(|n| p(n).to_string()).collect();
    assert_eq!(names, want);
    let l = store.list_with_delimiter(Some(&p("dir"))).await.unwrap();
    assert_eq!(l.objects.len(), 1);
    assert_eq!(l.common_prefixes, vec![p("dir/sub")]);

    // Replacing is atomic: a reader sees the old or the new object, whole.
    store.put(&p("a.bin"), PutPayload::from_static(b"replaced")).await.unwrap();
    assert_eq!(store.get(&p("a.bin")).await.unwrap().bytes().await.unwrap(), Bytes::from_static(b"replaced"));

    // Conditional puts: create-only, and update against a version.
    let once = PutOptions::from(PutMode::Create);
    store.put_opts(&p("state.json"), PutPayload::from_static(b"1"), once.clone()).await.unwrap();
    let again = store.put_opts(&p("state.json"), PutPayload::from_static(b"2"), once).await;
    assert!(matches!(again, Err(object_store::Error::AlreadyExists { .. })), "{again:?}");
    if conditional_update {
        let meta = store.head(&p("state.json")).await.unwrap();
        let current = UpdateVersion { e_tag: meta.e_tag.clone(), version: meta.version.clone() };
        store
            .put_opts(&p("state.json"), PutPayload::from_static(b"3"), PutMode::Update(current.clone()).into())
            .await
            .unwrap();
        let stale =
            store.put_opts(&p("state.json"), PutPayload::from_static(b"4"), PutMode::Update(current).into()).await;
        assert!(matches!(stale, Err(object_store::Error::Precondition { .. })), "{stale:?}");
        assert_eq!(store.get(&p("state.json")).await.unwrap().bytes().await.unwrap(), Bytes::from_static(b"3"));
    }

    // The state store on top: two writers of one bot, the second is refused.
    let dest = Destination::from_store(store.clone(), prefix.clone(), "conformance");
    let states = StateStore::new(dest);
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().with_timezone(&chrono::Utc);
    let mut a = states.load("acc", "bot", now).await.unwrap();
    let mut b = states.load("acc", "bot", now).await.unwrap();
    states.commit(&mut a, now).await.unwrap();
    let err = states.commit(&mut b, now).await.unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    a.state.advance("detail", "2026-11-19".parse().unwrap(), "2026-11-20".parse().unwrap());
    states.commit(&mut a, now).await.unwrap();
    let mut c = states.load("acc", "bot", now).await.unwrap();
    assert_eq!(c.state.cursors["detail"].to_string(), "2026-11-20");
    states.commit(&mut c, now).await.unwrap();
    assert!(matches!(states.commit(&mut a, now).await, Err(StateError::Conflict { .. })));

    // Deleting.
    for name in ["a.bin", "big.bin", "dir/x.parquet", "dir/sub/y.parquet", "state.json"] {
        store.delete(&p(name)).await.unwrap();
    }
    assert!(matches!(store.head(&p("big.bin")).await, Err(object_store::Error::NotFound { .. })));
}

#[tokio::test]
async fn conformance_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let dest = open(dir.path().to_str().unwrap());
    conformance(dest.store(), &Path::from("t"), false).await;
}

#[tokio::test]
async fn conformance_memory() {
    let dest = open("memory:///");
    conformance(dest.store(), &Path::from("t"), true).await;
}

async fn conformance_cloud(var: &str) {
    let Some(url) = server(var) else { return };
    let dest = open(&format!("{url}/{}", unique("conformance")));
    conformance(dest.store(), dest.prefix(), true).await;
}

#[tokio::test]
async fn conformance_s3() {
    conformance_cloud("BOTEVENTS_TEST_S3_URL").await;
}

#[tokio::test]
async fn conformance_gcs() {
    conformance_cloud("BOTEVENTS_TEST_GCS_URL").await;
}

#[tokio::test]
async fn conformance_azure() {
    conformance_cloud("BOTEVENTS_TEST_AZ_URL").await;
}

async fn simulated_export(dest: &str, extra: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"))
        .args([
            "export",
            "--simulate",
            "--now",
            NOW,
            "--start",
            "2026-11-17",
            "--bot",
            "bot-support",
            "--bot",
            "bot-busy",
        ])
        .args(["--dest", dest])
        .args(extra)
        .env("BOTEVENTS_LOG", "warn")
        .output()
        .await
        .unwrap()
}

/// Every object under a destination's prefix whose name ends in `.parquet`, with its bytes,
/// keyed by the path below the prefix; each is also decoded through `ParquetObjectReader`.
async fn parquet_objects(dest: &Destination) -> std::collections::BTreeMap<String, (Bytes, usize)> {
    let store = dest.store();
    let metas: Vec<_> = store.list(Some(dest.prefix())).try_collect().await.unwrap();
    let mut out = std::collections::BTreeMap::new();
    let strip = format!("{}/", dest.prefix());
    for m in metas {
        let name = m.location.to_string();
        if !name.ends_with(".parquet") {
            continue;
        }
        let reader = ObjectFileReader::new(store.clone(), &m);
        let stream = ParquetRecordBatchStreamBuilder::new(reader).await.unwrap().build().unwrap();
        let batches: Vec<_> = stream.try_collect().await.unwrap();
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
        let key = name.strip_prefix(&strip).unwrap_or(&name).to_string();
        out.insert(key, (bytes, rows));
    }
    out
}

async fn export_matches_local(var: &str) {
    let Some(url) = server(var) else { return };
    let local = tempfile::tempdir().unwrap();
    let out = simulated_export(local.path().to_str().unwrap(), &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let remote_url = format!("{url}/{}", unique("export"));
    let out = simulated_export(&remote_url, &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = parquet_objects(&open(local.path().to_str().unwrap())).await;
    let got = parquet_objects(&open(&remote_url)).await;
    assert!(want.len() > 10, "{}", want.len());
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, (bytes, rows)) in &want {
        assert_eq!(got[k].1, *rows, "{k}");
        assert!(got[k].0 == *bytes, "{k} differs from the local export");
    }
    // The state went up too, and a second run is up to date: no file changes.
    let remote = open(&remote_url);
    let state = remote.store().head(&remote.state_path("12345678", "bot-busy")).await;
    assert!(state.is_ok(), "{state:?}");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"))
        .args([
            "export",
            "--simulate",
            "--now",
            NOW,
            "--bot",
            "bot-support",
            "--bot",
            "bot-busy",
            "--dest",
            &remote_url,
        ])
        .arg("--summary-json")
        .arg("-")
        .env("BOTEVENTS_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["data_requests"].as_u64(), Some(0), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_s3_matches_local_disk() {
    export_matches_local("BOTEVENTS_TEST_S3_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_gcs_matches_local_disk() {
    export_matches_local("BOTEVENTS_TEST_GCS_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_azure_matches_local_disk() {
    export_matches_local("BOTEVENTS_TEST_AZ_URL").await;
}

/// Multipart uploads still open under `prefix` on the S3 or GCS test server.
async fn open_uploads(var: &str, prefix: &str) -> usize {
    let http = reqwest::Client::new();
    if var == "BOTEVENTS_TEST_S3_URL" {
        let endpoint = std::env::var("AWS_ENDPOINT").unwrap();
        let xml = http.get(format!("{endpoint}/botevents-test?uploads")).send().await.unwrap().text().await.unwrap();
        xml.matches(prefix).count()
    } else {
        let admin = std::env::var("BOTEVENTS_TEST_GCS_ADMIN").unwrap();
        let json = http.get(format!("{admin}/_admin/uploads")).send().await.unwrap().text().await.unwrap();
        json.matches(prefix).count()
    }
}

/// A detail CSV of one day whose Parquet file is far above the multipart threshold: random text
/// does not compress.
fn big_day_csv(rows: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(3);
    let mut out = b"eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n".to_vec();
    for i in 0..rows {
        let noise: String = (0..96).map(|_| rng.alphanumeric()).collect();
        let ms = 86_399_999 - (i as u64 * 86_399_999 / rows as u64);
        let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        out.extend_from_slice(
            format!(
                "\"ev{}\",HTMLCLIENT,\"{noise}\",\"{noise}\",2026-11-20T{h:02}:{m:02}:{s:02}.{milli:03}Z,\"c{i}\",\n",
                i % 50
            )
            .as_bytes(),
        );
    }
    out
}

/// Stopping the process (SIGTERM) while a large file is being uploaded in parts leaves no object
/// and no orphaned part; the process exits 75.
async fn interrupted_upload_leaves_nothing(var: &str) {
    let Some(url) = server(var) else { return };
    let run = unique("interrupted");
    let dest_url = format!("{url}/{run}");
    let csv = big_day_csv(400_000);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"))
        .args(["convert", "--table", "detail", "--account", "acc", "--bot", "big", "--dest", &dest_url, "-"])
        .env("BOTEVENTS_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Feed most of the file but keep stdin open, so the conversion cannot finish by itself.
    stdin.write_all(&csv[..csv.len() * 9 / 10]).await.unwrap();
    stdin.flush().await.unwrap();
    let mut seen = false;
    for _ in 0..600 {
        if open_uploads(var, &run).await > 0 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "no multipart upload started");
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().await.unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(75), "{}", String::from_utf8_lossy(&out.stderr));
    let dest = open(&dest_url);
    let objects: Vec<_> = dest.store().list(Some(dest.prefix())).try_collect().await.unwrap();
    assert!(objects.is_empty(), "nothing becomes visible: {objects:?}");
    assert_eq!(open_uploads(var, &run).await, 0, "no orphaned parts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_upload_leaves_nothing_s3() {
    interrupted_upload_leaves_nothing("BOTEVENTS_TEST_S3_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_upload_leaves_nothing_gcs() {
    interrupted_upload_leaves_nothing("BOTEVENTS_TEST_GCS_URL").await;
}

/// Two exports of the same bot into the same destination at once: one of them stops with a
/// conflict naming the state object, nothing is overwritten behind its back, and the next run
/// finds everything complete.
async fn concurrent_exports_conflict(dest_url: &str) {
    let run = |extra: Vec<&'static str>| {
        let dest = dest_url.to_string();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"))
                .args(["export", "--simulate", "--now", NOW, "--bot", "bot-support", "--dest", &dest])
                .args(extra)
                .env("BOTEVENTS_LOG", "warn")
                .output()
                .await
                .unwrap()
        }
    };
    let (a, b) = tokio::join!(run(vec!["--start", "2026-11-03"]), run(vec!["--start", "2026-11-03"]));
    let failed: Vec<_> = [&a, &b].into_iter().filter(|o| !o.status.success()).collect();
    assert_eq!(
        failed.len(),
        1,
        "exactly one run loses:\n{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let err = String::from_utf8_lossy(&failed[0].stderr);
    assert!(err.contains("conflict on") && err.contains("_botevents/state/12345678/bot-support.json"), "{err}");
    assert_eq!(failed[0].status.code(), Some(1));
    // Nothing lost: the next run is up to date and the files equal a clean export's.
    let out = run(vec!["--summary-json", "-"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["data_requests"].as_u64(), Some(0), "{summary}");
    let clean = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"))
        .args(["export", "--simulate", "--now", NOW, "--bot", "bot-support", "--start", "2026-11-03"])
        .args(["--dest", clean.path().to_str().unwrap()])
        .env("BOTEVENTS_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let want = parquet_objects(&open(clean.path().to_str().unwrap())).await;
    let got = parquet_objects(&open(dest_url)).await;
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exports_conflict_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_exports_conflict(dir.path().to_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exports_conflict_s3() {
    if let Some(url) = server("BOTEVENTS_TEST_S3_URL") {
        concurrent_exports_conflict(&format!("{url}/{}", unique("conflict"))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exports_conflict_gcs() {
    if let Some(url) = server("BOTEVENTS_TEST_GCS_URL") {
        concurrent_exports_conflict(&format!("{url}/{}", unique("conflict"))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exports_conflict_azure() {
    if let Some(url) = server("BOTEVENTS_TEST_AZ_URL") {
        concurrent_exports_conflict(&format!("{url}/{}", unique("conflict"))).await;
    }
}

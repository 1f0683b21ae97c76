//! `cimon serve` as a process: idempotency, crash safety, auth and logs, `/metrics` with the
//! real `promtool` and a real Prometheus, `report --endpoint` end to end. Every scenario
//! runs on SQLite and on PostgreSQL (started by `./scripts/test`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{fixture, valid_report};

pub const TOKEN: &str = "it-server-token-5f1d";

/// A running `cimon serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on a free port with `database` (a URL).
    // The child is owned by the returned `Server`, whose `Drop` kills and waits for it.
    #[allow(clippy::zombie_processes)]
    pub fn start(database: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("cimon"))
            .env_clear()
            .env("CIMON_TOKEN", TOKEN)
            .env("CIMON_LOG", "cimon=trace,info")
            .current_dir(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("listening on ").nth(1) {
                let base = rest.split_whitespace().next().unwrap().to_string();
                return Self {
                    child,
                    base,
                    log,
                    _dir: dir,
                };
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A SQLite URL in a fresh directory (kept alive by the returned guard).
fn sqlite_url() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        format!("sqlite://{}", dir.path().join("cimon.db").display()),
        dir,
    )
}

/// A fresh PostgreSQL database on the test cluster (`CIMON_TEST_POSTGRES_URL`), dropped when
/// the returned guard goes out of scope — also when the test panics.
async fn postgres_db() -> PgDatabase {
    let admin = std::env::var("CIMON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://cimon:cimon@127.0.0.1:5432/cimon_test".into());
    let name = format!("cimon_it_{}", fastrand::u64(..));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {admin} is not reachable ({e}); run ./scripts/test, which installs and starts it")
    });
    // `name` is built here from digits only.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = match admin.rfind('/') {
        Some(i) => format!("{}/{name}", &admin[..i]),
        None => panic!("bad CIMON_TEST_POSTGRES_URL"),
    };
    PgDatabase { admin, name, url }
}

/// A database made by [`postgres_db`]; dropping it drops the database (`WITH (FORCE)`, so
/// connections a killed server left behind do not keep it).
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn drop_database(admin: &str, name: &str) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
        })
    }
}

/// True when the database `name` exists on the cluster of `admin`.
async fn database_exists(admin: &str, name: &str) -> bool {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap();
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    found.is_some()
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime (where blocking on it is not allowed) or while
        // unwinding a panic: a thread of its own with its own runtime does the work.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let done = std::thread::spawn(move || Self::drop_database(&admin, &name)).join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the test database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop the test database {}", self.name),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_test_databases_are_dropped_even_when_a_test_panics() {
    let db = postgres_db().await;
    assert!(database_exists(&db.admin, &db.name).await);
    let (admin, name) = (db.admin.clone(), db.name.clone());
    // A panicking test: the guard is dropped while unwinding.
    let unwound = std::thread::spawn(move || {
        let _db = db;
        panic!("a failing test");
    })
    .join();
    assert!(unwound.is_err());
    assert!(
        !database_exists(&admin, &name).await,
        "{name} is still there"
    );
}

fn client() -> reqwest::Client {
    cimon::http::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn report(key: &str, attempt: u32) -> Value {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("server/run-report.json")).unwrap())
            .unwrap();
    v["key"] = Value::String(format!("github/octo/app/CI/{key}/{attempt}/build"));
    v["run_id"] = Value::String(key.to_string());
    v["run_attempt"] = Value::from(attempt);
    v
}

async fn post(c: &reqwest::Client, base: &str, body: &Value) -> reqwest::Result<u16> {
    let r = c
        .post(format!("{base}/api/v1/runs"))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await?;
    Ok(r.status().as_u16())
}

async fn get(c: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    let r = c
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn idempotency(database: &str) {
    let server = Server::start(database, &[]);
    let c = client();
    let base = server.base.clone();
    // The same report three times in a row, then three times at once.
    let codes = [
        post(&c, &base, &report("100", 1)).await.unwrap(),
        post(&c, &base, &report("100", 1)).await.unwrap(),
        post(&c, &base, &report("100", 1)).await.unwrap(),
    ];
    assert_eq!(codes, [201, 200, 200]);
    let same = report("200", 1);
    let (a, b, d) = tokio::join!(
        post(&c, &base, &same),
        post(&c, &base, &same),
        post(&c, &base, &same)
    );
    let mut concurrent = [a.unwrap(), b.unwrap(), d.unwrap()];
    concurrent.sort();
    assert_eq!(concurrent, [200, 200, 201], "exactly one creates the run");
    // Another attempt of the same run is another record.
    assert_eq!(post(&c, &base, &report("100", 2)).await.unwrap(), 201);
    let (status, page) = get(&c, &base, "/api/v1/runs?repository=octo/app&limit=10").await;
    assert_eq!(status, 200, "{page}");
    let runs = page["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{page}");
    let mut keys: Vec<&str> = runs.iter().map(|r| r["key"].as_str().unwrap()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "github/octo/app/CI/100/1/build",
            "github/octo/app/CI/100/2/build",
            "github/octo/app/CI/200/1/build"
        ]
    );
    // A run comes back as it was posted.
    let id = runs[0]["id"].as_str().unwrap();
    let (status, run) = get(&c, &base, &format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, 200);
    valid_report(&run.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_ingest_on_sqlite() {
    let (url, _dir) = sqlite_url();
    idempotency(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_ingest_on_postgres() {
    let db = postgres_db().await;
    idempotency(&db.url).await;
}

/// Under concurrent posts, `kill -9` the server: after a restart every run that was
/// acknowledged with a 2xx is there.
async fn crash_safety(database: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let mut server = Server::start(database, &[]);
    let c = client();
    let acks = Arc::new(AtomicUsize::new(0));
    // Eight writers post distinct runs until the server goes away.
    let mut writers = Vec::new();
    for w in 0..8u32 {
        let (c, base, acks) = (c.clone(), server.base.clone(), acks.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                let key = format!("crash-{w}-{i}");
                match post(&c, &base, &report(&key, 1)).await {
                    Ok(200 | 201) => {
                        acknowledged.push(key);
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            acknowledged
        }));
    }
    let started = Instant::now();
    while acks.load(Ordering::SeqCst) < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writers made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Kill while requests are in flight.
    server.kill9();
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    assert!(acknowledged.len() >= 40);
    let server = Server::start(database, &[]);
    for key in &acknowledged {
        let id = cimon::store::run_id(&format!("github/octo/app/CI/{key}/1/build"));
        let (status, _) = get(&c, &server.base, &format!("/api/v1/runs/{id}")).await;
        assert_eq!(
            status, 200,
            "run {key} was acknowledged before the crash but is gone"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_runs_survive_kill_9_on_sqlite() {
    let (url, _dir) = sqlite_url();
    crash_safety(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_runs_survive_kill_9_on_postgres() {
    let db = postgres_db().await;
    crash_safety(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_the_logs() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url, &[]);
    let c = client();
    assert_eq!(
        post(&c, &server.base, &report("log", 1)).await.unwrap(),
        201
    );
    let wrong = "wrong-token-7c2e";
    let r = c
        .post(format!("{}/api/v1/runs", server.base))
        .bearer_auth(wrong)
        .json(&report("log", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .get(format!("{}/api/v1/runs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let log = server.log();
    assert!(
        log.contains("ingested"),
        "the log is captured at trace level:\n{log}"
    );
    assert!(
        !log.contains(TOKEN) && !log.contains(wrong),
        "a token reached the log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_no_auth_is_refused_off_loopback() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("cimon"))
        .env_clear()
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure-no-auth",
            "--database",
            "sqlite::memory:",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only allowed on a loopback address"));
}

fn which(tool: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("{tool} is not installed; run ./scripts/test, which installs it (Debian package prometheus)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_metrics() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url, &[]);
    let c = client();
    assert_eq!(
        post(&c, &server.base, &report("prom", 1)).await.unwrap(),
        201
    );
    let text = c
        .get(format!("{}/metrics", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("ci_pipeline_status{"), "{text}");
    let mut child = Command::new(which("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_server() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url, &[]);
    let c = client();
    assert_eq!(
        post(&c, &server.base, &report("scrape", 1)).await.unwrap(),
        201
    );
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let target = server.base.trim_start_matches("http://");
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: cimon\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['{target}']\n",
        token_file.display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut prom = Command::new(which("prometheus"))
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=ci_pipeline_status%7Bstatus%3D%22failure%22%7D"
    );
    let result = loop {
        if let Ok(r) = c.get(&query).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if v["data"]["result"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                {
                    break v;
                }
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = prom.kill();
            panic!("Prometheus never returned ci_pipeline_status");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let _ = prom.kill();
    let _ = prom.wait();
    let series = &result["data"]["result"][0];
    assert_eq!(series["metric"]["repository"], "octo/app", "{result}");
    assert_eq!(
        series["metric"]["job"], "cimon",
        "Prometheus's own job label stays; ours is exported_job: {result}"
    );
    assert_eq!(series["metric"]["exported_job"], "build", "{result}");
    assert_eq!(series["value"][1], "1", "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_posts_to_the_server() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url, &[]);
    let work = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("dialects/surefire-rerun.xml"),
        work.path().join("TEST-cart.xml"),
    )
    .unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("cimon"))
        .env_clear()
        .env("CIMON_TOKEN", TOKEN)
        .current_dir(work.path())
        .args([
            "report",
            "--endpoint",
            &server.base,
            "--repository",
            "octo/e2e",
            "--run-id",
            "77",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = client();
    let (status, page) = get(&c, &server.base, "/api/v1/runs?repository=octo/e2e").await;
    assert_eq!(status, 200);
    assert_eq!(page["runs"][0]["tests"]["total"], 4, "{page}");
    assert_eq!(page["runs"][0]["tests"]["flaky"], 1, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_not_seen_for_the_ttl_leave_the_metrics() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url, &["--metrics-ttl", "1h"]);
    let c = client();
    let mut old = report("old", 1);
    old["repository"] = Value::from("octo/old");
    old["finished_at"] =
        Value::from((chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339());
    let mut new = report("new", 1);
    new["repository"] = Value::from("octo/new");
    new["finished_at"] = Value::from(chrono::Utc::now().to_rfc3339());
    assert_eq!(post(&c, &server.base, &old).await.unwrap(), 201);
    assert_eq!(post(&c, &server.base, &new).await.unwrap(), 201);
    let text = c
        .get(format!("{}/metrics", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("repository=\"octo/new\""), "{text}");
    assert!(
        !text.contains("octo/old"),
        "a pipeline older than the TTL is still exported:\n{text}"
    );
}

/// A report posted gzip'd, plain, or with a repeated key (read on the slow path, last value
/// wins) comes back as the report that was read from it.
async fn posted_bodies_come_back(database: &str) {
    use std::io::Write as _;
    let server = Server::start(database, &[]);
    let c = client();
    let base = server.base.clone();
    let as_read = |v: &Value| {
        let report: cimon::model::RunReport = serde_json::from_value(v.clone()).unwrap();
        serde_json::to_value(report).unwrap()
    };
    let send = |body: Vec<u8>, gzip: bool| {
        let mut r = c
            .post(format!("{base}/api/v1/runs"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json");
        if gzip {
            r = r.header("content-encoding", "gzip");
        }
        async move {
            let r = r.body(body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };

    let gzipped = report("301", 1);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(gzipped.to_string().as_bytes()).unwrap();
    let plain = report("302", 1);
    let repeated = report("303", 1);
    let text = repeated.to_string();
    let twice = format!("{{\"repository\":\"other/repo\",{}", &text[1..]);
    for (posted, body, gzip) in [
        (&gzipped, gz.finish().unwrap(), true),
        (&plain, plain.to_string().into_bytes(), false),
        (&repeated, twice.into_bytes(), false),
    ] {
        let (status, created) = send(body, gzip).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap();
        let (status, got) = get(&c, &base, &format!("/api/v1/runs/{id}")).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got, as_read(posted));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_bodies_come_back_on_sqlite() {
    let (url, _dir) = sqlite_url();
    posted_bodies_come_back(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_bodies_come_back_on_postgres() {
    let db = postgres_db().await;
    posted_bodies_come_back(&db.url).await;
}

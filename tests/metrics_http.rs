//! The metrics endpoint (`o365sync::exec::metrics::serve`): `GET /metrics` answers the registry's text, another path
//! 404, a taken address is an error saying what to do, and the server stops when told to.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use jiff::Timestamp;
use o365sync::content_type::ContentType;
use o365sync::exec::metrics::{self, JobMetrics, Metrics, MetricsError, RunFigures};
use o365sync::exec::{ContentTypeReport, JobReport, Mode};
use o365sync::exit::Outcome;
use tokio::sync::oneshot;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A report of job `name` with one content type and its watermark.
fn report(name: &str) -> JobReport {
    let mut r = JobReport::new(name, Mode::Live, t(1_800_000_000));
    let mut c = ContentTypeReport::new(ContentType::SharePoint);
    c.records_written = 7;
    c.watermark = Some(t(1_800_000_000));
    r.content_types.push(c);
    r.requests = 3;
    r.duration_seconds = 2.5;
    r
}

/// Samples keyed by `name{labels}` (or `name`), values parsed; HELP and TYPE come once per metric, before its samples.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut described = std::collections::BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(described.insert(name.to_owned()), "HELP twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(described.contains(name), "TYPE before HELP: {line}");
            assert!(["gauge", "counter"].contains(&kind), "{line}");
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (key, value) = line.rsplit_once(' ').expect("name value");
        let name = key.split('{').next().unwrap();
        assert!(described.contains(name), "sample before its HELP: {line}");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        assert!(
            samples.insert(key.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    samples
}

#[tokio::test]
async fn get_metrics_answers_the_last_run_and_other_paths_404_until_stopped() {
    let metrics = Metrics::new();
    let (stop, stopped) = oneshot::channel::<()>();
    let (addr, server) = metrics::serve(local(), metrics.clone(), async move {
        let _ = stopped.await;
    })
    .await
    .expect("listening");
    assert_ne!(addr.port(), 0, "the bound port is returned");
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/metrics");

    // Before any run: the process's metrics only.
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let before = parse(&res.text().await.unwrap());
    assert_eq!(before["o365sync_runs_total"], 0.0);
    assert!(!before.keys().any(|k| k.starts_with("o365sync_last_run_")));

    let (a, b) = (report("a"), report("b"));
    let jobs = [
        JobMetrics {
            report: &a,
            certificate_not_after: Some(t(1_900_000_000)),
        },
        JobMetrics {
            report: &b,
            certificate_not_after: None,
        },
    ];
    let run = RunFigures {
        started: t(1_800_000_000),
        finished: t(1_800_000_030),
        outcome: Outcome::Failed,
    };
    metrics.record_run(&jobs, t(1_800_000_030), &run);
    metrics.set_jobs_active(2);
    metrics.set_jobs_queued(5);

    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        metrics::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    assert_eq!(text, metrics.render(), "the endpoint serves render()");
    let s = parse(&text);
    assert_eq!(
        s[r#"o365sync_last_run_records_written{job="a",content_type="Audit.SharePoint"}"#],
        7.0
    );
    assert_eq!(
        s[r#"o365sync_watermark_lag_seconds{job="b",content_type="Audit.SharePoint"}"#],
        30.0
    );
    assert_eq!(s[r#"o365sync_last_run_requests{job="b"}"#], 3.0);
    assert_eq!(s[r#"o365sync_last_run_duration_seconds{job="a"}"#], 2.5);
    assert_eq!(
        s[r#"o365sync_certificate_not_after_timestamp_seconds{job="a"}"#],
        1_900_000_000.0
    );
    assert!(!s.contains_key(r#"o365sync_certificate_not_after_timestamp_seconds{job="b"}"#));
    assert_eq!(s["o365sync_runs_total"], 1.0);
    assert_eq!(s["o365sync_run_failures_total"], 1.0);
    assert_eq!(s["o365sync_run_last_duration_seconds"], 30.0);
    assert_eq!(s["o365sync_run_last_timestamp_seconds"], 1_800_000_030.0);
    assert_eq!(s["o365sync_jobs_active"], 2.0);
    assert_eq!(s["o365sync_jobs_queued"], 5.0);

    // Job b is gone from the job files: its series go with the next run.
    let run = RunFigures {
        outcome: Outcome::Done,
        ..run
    };
    metrics.record_run(&jobs[..1], t(1_800_000_060), &run);
    let s = parse(&http.get(&url).send().await.unwrap().text().await.unwrap());
    assert!(!s.keys().any(|k| k.contains(r#"job="b""#)), "{s:?}");
    assert_eq!(s["o365sync_runs_total"], 2.0);
    assert_eq!(s["o365sync_run_failures_total"], 1.0);

    for path in ["/", "/metricsx", "/metrics/x", "/healthz"] {
        let res = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = http.post(&url).send().await.unwrap();
    assert_eq!(res.status(), 405);

    // Graceful stop: the task ends and the port no longer answers.
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the server stops once told to")
        .expect("the server task did not panic");
    let fresh = reqwest::Client::new();
    assert!(
        fresh.get(&url).send().await.is_err(),
        "nothing listens any more"
    );
}

#[tokio::test]
async fn a_taken_address_is_an_error_saying_what_to_do() {
    let taken = tokio::net::TcpListener::bind(local()).await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = metrics::serve(addr, Metrics::new(), std::future::pending())
        .await
        .expect_err("the address is taken");
    assert!(matches!(err, MetricsError::Bind { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.ends_with("choose another address or port"), "{msg}");
}

//! `backfill` beyond the Management API's 7 days: the part of a backfill range older than the API's retention is read
//! from Microsoft Purview Audit Search (Graph), for commercial and GCC tenants; GCC High and DoD have no Audit Search
//! for applications, so there that part is a recorded gap saying so.
//!
//! The part is searched by UTC day: one query per day, for the part of the day inside the backfill's range. The last
//! day reaches past the retention floor, where the Management API part begins, up to the end of the day or of the
//! range (the record ledger drops what both paths read): the floor moves on between an interrupted run and its
//! resumption, and what a query created before would miss, the day's end still covers. Days are
//! durable work in the state (`audit_query`): the query ID, whether it is still running or being paged, the next
//! page's link and the pages read. A resumed backfill polls or pages from there; a day already done is not searched
//! again. A query that fails, vanishes or never finishes within [`MAX_QUERY_WAIT`] is created again, up to
//! [`MAX_QUERIES_PER_DAY`] times; then the day is a recorded gap with the reason.
//!
//! Each page's records are routed to the content type the Management API would file them under
//! ([`content_type_of`]); records of content types the job does not collect are dropped. The transport's
//! artefacts go (`@odata.type` annotations; the `Z` Graph adds to `CreationTime`), so the record is the one the
//! Management API delivers, and goes through the same normalizer, record ledger and sink as a blob; the event names
//! Audit Search in `metadata.log_provider`. A page's records of one content type are one delivery, committed in the
//! content ledger under `auditsearch:{query}:{page}`, so a page read again after a crash is not delivered twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::{Ctx, ExecError, Halt, Normalized, deliver};
use crate::api::RecordSink;
use crate::api::audit_search::{AuditSearch, QueryStatus, SearchError, management_record};
use crate::content_type::ContentType;
use crate::exec::progress::SearchProgress;
use crate::exec::report::{AuditSearchReport, ContentTypeReport};
use crate::normalize::record_types::content_type_of;
use crate::state::{self, AuditQuery, AuditQueryStatus, GapReason, ListedBlob, Track};

/// What events read from Audit Search name in `metadata.log_provider`.
pub(crate) const PROVIDER: &str = "Microsoft Purview Audit Search";

/// The span of one query.
const QUERY_SPAN: SignedDuration = SignedDuration::from_hours(24);

/// Queries created for one day before it is given up as a gap.
pub(crate) const MAX_QUERIES_PER_DAY: u32 = 3;

/// How long one query may take to run before it is created again.
pub(crate) const MAX_QUERY_WAIT: Duration = Duration::from_secs(30 * 60);

/// [`MAX_QUERY_WAIT`], or for tests `O365SYNC_TEST_AUDIT_QUERY_WAIT_MS` (a query that never finishes would otherwise
/// take half an hour to give up on).
fn max_query_wait() -> Duration {
    std::env::var("O365SYNC_TEST_AUDIT_QUERY_WAIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(MAX_QUERY_WAIT, Duration::from_millis)
}

/// How long the unified audit log keeps records with standard audit.
const AUDIT_LOG_RETENTION: SignedDuration = SignedDuration::from_hours(180 * 24);

/// Days of one job searched at once; the tenant's jobs also share [`crate::api::budget::AUDIT_QUERIES_PER_TENANT`].
const QUERIES_IN_FLIGHT: usize = crate::api::budget::AUDIT_QUERIES_PER_TENANT;

/// The first poll's delay; later ones double up to [`POLL_MAX`].
const POLL_MIN: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(30);

/// The UTC days whose queries cover `[from, floor)`: from the day holding `from` to the day holding `floor`'s last
/// instant, each whole.
pub(crate) fn days(from: Timestamp, floor: Timestamp) -> Vec<state::Window> {
    let day = QUERY_SPAN.as_secs();
    let mut start = from.as_second().div_euclid(day) * day;
    let mut out = Vec::new();
    if from >= floor {
        return out;
    }
    while start < floor.as_second() {
        let (Ok(s), Ok(e)) = (
            Timestamp::from_second(start),
            Timestamp::from_second(start + day),
        ) else {
            break;
        };
        if let Some(w) = state::Window::new(s, e) {
            out.push(w);
        }
        start += day;
    }
    out
}

/// Runs the Audit Search part of a backfill of `[from, to)`: what is older than `floor` (the Management API's
/// retention floor); adds what it delivered to `reports` (by content type) and returns its own counters.
pub(super) async fn run(
    ctx: &Ctx<'_>,
    from: Timestamp,
    to: Timestamp,
    floor: Timestamp,
    reports: &mut BTreeMap<ContentType, ContentTypeReport>,
) -> Result<AuditSearchReport, Halt> {
    let range = Range { from, to };
    let floor = floor.min(to);
    let mut report = AuditSearchReport::default();
    let now = Timestamp::now();
    let cloud = ctx.job.tenant.cloud;
    if !cloud.has_audit_search() {
        // No Audit Search here: what the Management API no longer has is a gap, said as such.
        if let Some(w) = state::Window::new(from, floor) {
            for &ct in &ctx.job.content_types {
                tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %w, status = "gap", "older than the Management API's 7 days, and {cloud} has no Purview Audit Search for applications: recording a gap");
                ctx.state.record_window_gap(
                    ct,
                    Track::Backfill,
                    w,
                    GapReason::NoAuditSearch,
                    &format!("requested by backfill; the Management API keeps 7 days and Purview Audit Search is not offered to applications in {cloud}"),
                    now,
                )?;
                reports.entry(ct).or_default().window_gaps += 1;
            }
        }
        return Ok(report);
    }
    let search = Arc::new(open(ctx)?);
    let days = days(from, floor);
    report.days_planned = days.len() as u64;
    let progress = ctx.display.audit_search(&ctx.job.name, days.len() as u64);
    if let Ok(kept) = now.checked_sub(AUDIT_LOG_RETENTION)
        && from < kept
    {
        // Not an error: the records simply are not there (Audit Premium keeps a year or more).
        report.note = Some(format!(
            "the range starts before {kept}: the unified audit log keeps 180 days with standard audit, so older days may hold nothing (a year or more with Audit Premium)"
        ));
    }
    tracing::info!(job = %ctx.job.name, days = days.len(), from = %from, to = %floor, "reading the part older than the Management API's 7 days from Purview Audit Search");
    let runs = futures::stream::iter(days)
        .map(|day| {
            let search = Arc::clone(&search);
            let progress = progress.clone();
            async move {
                let mut part = DayReport::default();
                let res = if ctx.stop.is_requested() {
                    Ok(())
                } else {
                    run_day(ctx, &search, day, range, &mut part, &progress).await
                };
                progress.day_done();
                (part, res)
            }
        })
        .buffer_unordered(QUERIES_IN_FLIGHT);
    tokio::pin!(runs);
    let mut halt = None;
    while let Some((part, res)) = runs.next().await {
        report.absorb(&part.search);
        for (ct, r) in part.by_type {
            reports.entry(ct).or_default().absorb(&r);
        }
        if let Err(h) = res {
            halt.get_or_insert(h);
            break;
        }
    }
    progress.finish();
    let (requests, throttled) = search.counts();
    report.requests = requests;
    report.throttled = throttled;
    match halt {
        Some(h) => Err(h),
        None => Ok(report),
    }
}

/// The job's Audit Search client: Graph's scope, from the job's own credential and authority.
fn open(ctx: &Ctx<'_>) -> Result<AuditSearch, Halt> {
    let job = ctx.job;
    let fatal = |e: String| Halt::Fatal(ExecError::AuditSearch(e));
    let root = job.audit_search_root().map_err(|e| fatal(e.to_string()))?;
    let mut endpoints = job.endpoints().map_err(|e| fatal(e.to_string()))?;
    endpoints.scope = job.tenant.cloud.graph_scope();
    let tokens = crate::auth::TokenProvider::new(
        Arc::clone(&ctx.credential),
        crate::auth::TokenProviderConfig::new(job.tenant.client_id.to_string(), endpoints),
    );
    AuditSearch::new(root, tokens, crate::api::RetryPolicy::default())
        .map_err(|e| fatal(e.to_string()))
}

/// One day's counters.
#[derive(Default)]
struct DayReport {
    search: AuditSearchReport,
    by_type: BTreeMap<ContentType, ContentTypeReport>,
}

/// Searches one day to its last page (resuming what the state holds), or records it as a gap.
async fn run_day(
    ctx: &Ctx<'_>,
    search: &AuditSearch,
    day: state::Window,
    range: Range,
    r: &mut DayReport,
    progress: &SearchProgress,
) -> Result<(), Halt> {
    // The tenant's jobs in this run share its few concurrent queries.
    let budget = std::sync::Arc::clone(ctx.client.budget());
    let _slot = budget.audit_query_slot().await;
    let mut q = match ctx.state.audit_query(day)? {
        Some(q) if matches!(q.status, AuditQueryStatus::Done | AuditQueryStatus::Gap) => {
            r.search.days_skipped += 1;
            return Ok(());
        }
        Some(q) => {
            r.search.queries_resumed += 1;
            tracing::info!(job = %ctx.job.name, window = %day, query = %q.query_id, pages_done = q.pages_done, "resuming an Audit Search query");
            q
        }
        None => {
            let id = create(ctx, search, day, range).await?;
            r.search.queries_created += 1;
            let q = AuditQuery {
                window: day,
                query_id: id,
                status: AuditQueryStatus::Created,
                next_link: None,
                pages_done: 0,
                records_read: 0,
                attempts: 1,
            };
            ctx.state.save_audit_query(&q, Timestamp::now())?;
            q
        }
    };
    loop {
        match step(ctx, search, &mut q, r, progress).await {
            Ok(()) => {
                r.search.days_done += 1;
                return Ok(());
            }
            Err(Retry::Fatal(h)) => return Err(h),
            Err(Retry::Stopped) => return Ok(()),
            Err(Retry::Again(why)) if q.attempts < MAX_QUERIES_PER_DAY => {
                tracing::warn!(job = %ctx.job.name, window = %day, query = %q.query_id, "Audit Search query abandoned ({why}): creating it again");
                q.query_id = create(ctx, search, day, range).await?;
                r.search.queries_created += 1;
                q.attempts += 1;
                q.status = AuditQueryStatus::Created;
                q.next_link = None;
                ctx.state.save_audit_query(&q, Timestamp::now())?;
            }
            Err(Retry::Again(why)) => {
                q.status = AuditQueryStatus::Gap;
                ctx.state.save_audit_query(&q, Timestamp::now())?;
                let detail = format!(
                    "Purview Audit Search gave no answer for this day after {} queries: {why}",
                    q.attempts
                );
                for &ct in &ctx.job.content_types {
                    tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %day, status = "gap", "{detail}: recording a gap");
                    ctx.state.record_window_gap(
                        ct,
                        Track::Backfill,
                        day,
                        GapReason::AuditSearchFailed,
                        &detail,
                        Timestamp::now(),
                    )?;
                    r.by_type.entry(ct).or_default().window_gaps += 1;
                }
                r.search.days_gap += 1;
                return Ok(());
            }
        }
    }
}

enum Retry {
    /// The query must be created again: why.
    Again(String),
    /// A stop was requested: the state keeps where the query stands.
    Stopped,
    Fatal(Halt),
}

impl From<Halt> for Retry {
    fn from(h: Halt) -> Self {
        Retry::Fatal(h)
    }
}

impl From<state::StateError> for Retry {
    fn from(e: state::StateError) -> Self {
        Retry::Fatal(e.into())
    }
}

fn search_halt(e: SearchError) -> Halt {
    Halt::Fatal(ExecError::AuditSearch(e.to_string()))
}

/// The backfill's whole range: a day's query searches the part of the day inside it (the first day from `from`, a
/// last day before `to` up to `to`), while the state keys the query by the whole day.
#[derive(Debug, Clone, Copy)]
struct Range {
    from: Timestamp,
    to: Timestamp,
}

async fn create(
    ctx: &Ctx<'_>,
    search: &AuditSearch,
    day: state::Window,
    range: Range,
) -> Result<String, Halt> {
    let name = format!(
        "o365sync {} {}",
        ctx.job.name,
        day.start.strftime("%Y-%m-%d")
    );
    let start = day.start.max(range.from);
    let end = day.end.min(range.to);
    search
        .create(start, end.max(start), &name)
        .await
        .map_err(search_halt)
}

/// Polls query `q` until it succeeded, then reads and delivers its pages from where the state says.
async fn step(
    ctx: &Ctx<'_>,
    search: &AuditSearch,
    q: &mut AuditQuery,
    r: &mut DayReport,
    progress: &SearchProgress,
) -> Result<(), Retry> {
    if q.status == AuditQueryStatus::Created {
        progress.running(true);
        let polled = poll(ctx, search, q).await;
        progress.running(false);
        polled?;
        q.status = AuditQueryStatus::Paging;
        ctx.state.save_audit_query(q, Timestamp::now())?;
    }
    progress.paging(true);
    let paged = pages(ctx, search, q, r, progress).await;
    progress.paging(false);
    paged
}

/// Polls query `q` until it succeeded.
async fn poll(ctx: &Ctx<'_>, search: &AuditSearch, q: &AuditQuery) -> Result<(), Retry> {
    let started = std::time::Instant::now();
    let mut delay = POLL_MIN;
    loop {
        match search.status(&q.query_id).await {
            Ok(QueryStatus::Succeeded) => break,
            Ok(QueryStatus::Failed(status)) => {
                return Err(Retry::Again(format!("the query ended {status}")));
            }
            Ok(QueryStatus::NotStarted | QueryStatus::Running) => {
                super::hook::reached(super::hook::Point::Polled);
            }
            Err(SearchError::QueryGone { .. }) => {
                return Err(Retry::Again("the service no longer knows the query".into()));
            }
            Err(e) if e.is_fatal() => return Err(Retry::Fatal(search_halt(e))),
            Err(e) => return Err(Retry::Again(e.to_string())),
        }
        let limit = max_query_wait();
        if started.elapsed() >= limit {
            return Err(Retry::Again(format!(
                "the query did not finish within {}",
                crate::job::duration::format_duration(
                    SignedDuration::try_from(limit).unwrap_or(SignedDuration::MAX)
                )
            )));
        }
        tokio::select! {
            biased;
            () = ctx.stop.requested() => return Err(Retry::Stopped),
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(POLL_MAX);
    }
    Ok(())
}

/// Reads and delivers `q`'s pages from where the state says.
async fn pages(
    ctx: &Ctx<'_>,
    search: &AuditSearch,
    q: &mut AuditQuery,
    r: &mut DayReport,
    progress: &SearchProgress,
) -> Result<(), Retry> {
    loop {
        if ctx.stop.is_requested() {
            return Err(Retry::Stopped);
        }
        let page = match search.page(&q.query_id, q.next_link.as_deref()).await {
            Ok(p) => p,
            Err(SearchError::QueryGone { .. }) => {
                return Err(Retry::Again("the service no longer knows the query".into()));
            }
            Err(e) if e.is_fatal() => return Err(Retry::Fatal(search_halt(e))),
            Err(e @ SearchError::ForeignLink { .. }) => return Err(Retry::Fatal(search_halt(e))),
            Err(e) => return Err(Retry::Again(e.to_string())),
        };
        r.search.pages += 1;
        r.search.records_read += page.records.len() as u64;
        q.records_read += page.records.len() as u64;
        progress.records_read(page.records.len() as u64);
        deliver_page(ctx, q, page.records, r).await?;
        super::hook::reached(super::hook::Point::Paged);
        q.pages_done += 1;
        match page.next {
            Some(next) => {
                q.next_link = Some(next.to_string());
                ctx.state.save_audit_query(q, Timestamp::now())?;
            }
            None => {
                q.status = AuditQueryStatus::Done;
                q.next_link = None;
                ctx.state.save_audit_query(q, Timestamp::now())?;
                return Ok(());
            }
        }
    }
}

/// Delivers one page: its records grouped by content type, each group one delivery under
/// `auditsearch:{query}:{page}` (skipped when the content ledger already has it done).
async fn deliver_page(
    ctx: &Ctx<'_>,
    q: &AuditQuery,
    records: Vec<Value>,
    r: &mut DayReport,
) -> Result<(), Halt> {
    let now = Timestamp::now();
    let mut groups: BTreeMap<ContentType, Vec<String>> = BTreeMap::new();
    for rec in records {
        let Some(data) = management_record(rec) else {
            continue;
        };
        let field = |k: &str| data.get(k).or_else(|| data.get(&k.to_ascii_lowercase()));
        let record_type = field("RecordType").and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        let ct = content_type_of(record_type, field("Workload").and_then(Value::as_str));
        if !ctx.job.content_types.contains(&ct) {
            continue;
        }
        groups
            .entry(ct)
            .or_default()
            .push(Value::Object(data).to_string());
    }
    let content_id = format!("auditsearch:{}:{}", q.query_id, q.pages_done);
    for (ct, lines) in groups {
        let blob = ListedBlob {
            content_id: content_id.clone(),
            created: q.window.start,
            // Kept in the content ledger for a week: long enough for any resume of this query.
            expiration: now
                .checked_add(SignedDuration::from_hours(7 * 24))
                .unwrap_or(now),
        };
        if !ctx
            .state
            .register_listed(ct, std::slice::from_ref(&blob), now)?
            .is_empty()
        {
            r.by_type.entry(ct).or_default().blobs_skipped += 1;
            continue;
        }
        let mut events = Normalized::new(ctx, ct, q.window.start);
        events.provider = Some(PROVIDER);
        for line in lines {
            events
                .record(crate::api::RawRecord { json: line })
                .map_err(|e| {
                    Halt::Fatal(ExecError::AuditSearch(format!(
                        "an Audit Search record could not be taken: {e}"
                    )))
                })?;
        }
        let d = deliver(ctx, ct, Track::Backfill, &blob, events).await?;
        let part = r.by_type.entry(ct).or_default();
        part.blobs_fetched += 1;
        part.records_written += d.written;
        part.records_duplicate += d.duplicates;
        ctx.progress(ct).records_written(d.written);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_whole_utc_days_from_the_start_to_past_the_floor() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let d = days(t("2026-11-20T13:00:00Z"), t("2026-11-23T01:00:00Z"));
        let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 4, "{shown:?}");
        assert_eq!(d[0].start, t("2026-11-20T00:00:00Z"));
        assert_eq!(d[3].end, t("2026-11-24T00:00:00Z"));
        assert!(days(t("2026-11-20T13:00:00Z"), t("2026-11-20T13:00:00Z")).is_empty());
    }
}

//! The job file is the desired state: what changed since the state recorded the last run, and what that means.
//!
//! Pure (no I/O, no clock): from a loaded job, what its state recorded ([`StateSummary`]) and the clock reading
//! the caller passes in, [`reconcile`] works out, like `terraform plan`:
//! - a **refusal** when the state belongs to another tenant or cloud (its windows, ledgers and watermarks describe
//!   another tenant's history; reusing them would silently skip the new tenant's);
//! - **credential rotation** (another client ID or certificate for the same tenant): fine, reported;
//! - a **sink change**: only new data goes to the new sink; the command that sends a range again;
//! - per content type: **added** (starts at `start`), **removed** (its state is kept), `start` moved **earlier**
//!   than the recorded origin (the added time is read on the backfill track; the part beyond retention is a gap) or
//!   **later** (nothing is dropped).
//!
//! `plan` prints these; `run` refuses, logs and applies them before any request.

use std::path::{Component, Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use crate::content_type::ContentType;
use crate::job::{Diagnostic, Issue, Job, Loaded, Sink};
use crate::plan::{self, Window};
use crate::state::{Identity, StateSummary};

/// What the job file asks for that differs from what the state recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// The state belongs to another tenant or cloud: nothing may run until the operator decides.
    pub refusal: Option<Refusal>,
    /// Another client ID or certificate for the same tenant (credential rotation): fine, noted once.
    pub rotations: Vec<String>,
    /// The sink changed since the last run.
    pub sink: Option<SinkChange>,
    /// Per content type of the job file or of the state, in content-type order; only those that changed.
    pub content_types: Vec<ContentTypeChange>,
}

impl Reconciliation {
    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.refusal.is_none()
            && self.rotations.is_empty()
            && self.sink.is_none()
            && self.content_types.is_empty()
    }
}

/// The state was built for another tenant or cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The job name.
    pub job: String,
    /// `tenant.id` or `tenant.cloud`.
    pub key: &'static str,
    /// The tenant the state holds.
    pub state_tenant: String,
    /// The cloud the state holds.
    pub state_cloud: String,
    /// The tenant the job file names.
    pub job_tenant: String,
    /// The cloud the job file names.
    pub job_cloud: String,
}

impl Refusal {
    /// The located diagnostic (at `tenant.id`, or `tenant.cloud` when only the cloud differs).
    pub fn diagnostic(&self, loaded: &Loaded) -> Diagnostic {
        let at = if self.key == "tenant.cloud" {
            loaded.cloud_at
        } else {
            loaded.tenant_id_at
        };
        let short: String = self.state_tenant.chars().take(8).collect();
        Issue::error(
            at,
            format!(
                "the state of job `{}` belongs to tenant {} ({} cloud), not to tenant {} ({} cloud) named here",
                self.job, self.state_tenant, self.state_cloud, self.job_tenant, self.job_cloud
            ),
            format!(
                "a job's state describes one tenant's history and would skip the new tenant's: give this tenant a \
                 job of its own (a new `name`), or keep the old state under another name with `o365sync state \
                 rename {job} {job}-{short}` and run again (the new tenant starts at `start`)",
                job = self.job
            ),
        )
        .in_file(&loaded.job.file)
    }
}

/// The sink the state delivered to at the last run differs from the job file's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinkChange {
    /// The sink recorded at the last run.
    pub from: String,
    /// The job file's sink.
    pub to: String,
    /// The command that sends what the API still serves again, to the new sink.
    pub redeliver: String,
}

/// What changed for one content type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ContentTypeChange {
    /// Collected by the job file, unknown to the state: starts at `start` like a first run.
    Added {
        /// The content type.
        content_type: ContentType,
    },
    /// In the state, no longer in the job file: its state is kept.
    Removed {
        /// The content type.
        content_type: ContentType,
        /// Its live watermark.
        watermark: Option<Timestamp>,
    },
    /// `start` now resolves to before the recorded origin: the added time is read on the backfill track.
    StartEarlier {
        /// The content type.
        content_type: ContentType,
        /// `start` as the state recorded it (empty when unknown).
        recorded_start: String,
        /// `start` as the job file writes it now.
        start: String,
        /// The recorded origin.
        origin: Timestamp,
        /// What `start` resolves to now.
        new_origin: Timestamp,
        /// The part the API still serves: read by the next `run` on the backfill track.
        readable: Option<Window>,
        /// The part beyond the API's retention: recorded as a gap (exit code 3).
        beyond_retention: Option<Window>,
    },
    /// `start` changed but resolves to the recorded origin or later: nothing collected is dropped.
    StartLater {
        /// The content type.
        content_type: ContentType,
        /// `start` as the state recorded it.
        recorded_start: String,
        /// `start` as the job file writes it now.
        start: String,
        /// The recorded origin, which stays.
        origin: Timestamp,
    },
}

impl ContentTypeChange {
    /// The content type concerned.
    pub fn content_type(&self) -> ContentType {
        match self {
            ContentTypeChange::Added { content_type }
            | ContentTypeChange::Removed { content_type, .. }
            | ContentTypeChange::StartEarlier { content_type, .. }
            | ContentTypeChange::StartLater { content_type, .. } => *content_type,
        }
    }
}

/// The sink as the state records it: `type` or `type:path`, the path absolute and lexically normalized (a job
/// file reached through another relative path names the same sink).
pub fn sink_identity(sink: &Sink) -> String {
    match sink {
        Sink::Stdout => "stdout".to_owned(),
        Sink::Jsonl { path, .. } => format!("jsonl:{}", normalized(path).display()),
        Sink::Sqlite { path, .. } => format!("sqlite:{}", normalized(path).display()),
        Sink::Elasticsearch(es) => format!(
            "elasticsearch:{}/{}",
            es.url.as_str().trim_end_matches('/'),
            es.index
        ),
        Sink::SplunkHec(hec) => format!(
            "splunk_hec:{}/{}",
            hec.url.as_str().trim_end_matches('/'),
            hec.index.as_deref().unwrap_or("")
        ),
        Sink::AzureLogsIngestion { config: li, .. } => format!(
            "azure_logs_ingestion:{}/{}/{}",
            li.endpoint.as_str().trim_end_matches('/'),
            li.dcr_immutable_id,
            li.stream
        ),
    }
}

/// What a run of `loaded` records as the state's identity.
pub fn identity(loaded: &Loaded) -> Identity {
    let job = &loaded.job;
    Identity {
        tenant_id: Some(job.tenant.id.to_string()),
        cloud: Some(job.tenant.cloud.to_string()),
        client_id: Some(job.tenant.client_id.to_string()),
        certificate_sha1: Some(loaded.credential.thumbprints().sha1_hex.clone()),
        sink: Some(sink_identity(&job.sink)),
    }
}

/// Whether the state holds anything read from its tenant: completed windows or delivered blobs. A state that holds
/// nothing (a first run that failed before listing, for example on a mistyped tenant ID) may change tenant.
fn holds_data(summary: &StateSummary) -> bool {
    summary.record_ledger > 0
        || summary.content_types.iter().any(|c| {
            !c.completed_windows.is_empty()
                || !c.backfill_windows.is_empty()
                || c.ledger.done + c.ledger.gap + c.ledger.pending > 0
        })
}

/// Compares the job file with what its state recorded, for the clock reading `now`.
pub fn reconcile(loaded: &Loaded, summary: &StateSummary, now: Timestamp) -> Reconciliation {
    let job = &loaded.job;
    let mut r = Reconciliation::default();
    let first_run = summary.identity == Identity::default() && summary.content_types.is_empty();
    if !summary.exists || first_run {
        return r;
    }
    let want = identity(loaded);
    let have = &summary.identity;
    let tenant_differs = have
        .tenant_id
        .as_ref()
        .is_some_and(|t| !t.eq_ignore_ascii_case(want.tenant_id.as_deref().unwrap_or_default()));
    let cloud_differs = have
        .cloud
        .as_ref()
        .is_some_and(|c| Some(c.as_str()) != want.cloud.as_deref());
    if (tenant_differs || cloud_differs) && holds_data(summary) {
        r.refusal = Some(Refusal {
            job: job.name.clone(),
            key: if tenant_differs {
                "tenant.id"
            } else {
                "tenant.cloud"
            },
            state_tenant: have.tenant_id.clone().unwrap_or_default(),
            state_cloud: have.cloud.clone().unwrap_or_default(),
            job_tenant: job.tenant.id.to_string(),
            job_cloud: job.tenant.cloud.to_string(),
        });
        return r;
    }
    if let (Some(old), Some(new)) = (&have.client_id, &want.client_id)
        && !old.eq_ignore_ascii_case(new)
    {
        r.rotations
            .push(format!("client ID changed from {old} to {new}"));
    }
    if let (Some(old), Some(new)) = (&have.certificate_sha1, &want.certificate_sha1)
        && old != new
    {
        r.rotations.push(format!(
            "certificate changed from SHA-1 {old} to SHA-1 {new}"
        ));
    }
    if let (Some(old), Some(new)) = (&have.sink, &want.sink)
        && old != new
    {
        r.sink = Some(SinkChange {
            from: old.clone(),
            to: new.clone(),
            redeliver: redeliver_command(job, summary, now),
        });
    }
    for c in &summary.content_types {
        if !job.content_types.contains(&c.content_type) && c.watermark.is_some() {
            r.content_types.push(ContentTypeChange::Removed {
                content_type: c.content_type,
                watermark: c.watermark,
            });
        }
    }
    for &ct in &job.content_types {
        let recorded = summary.content_types.iter().find(|c| c.content_type == ct);
        let Some(origin) = recorded.and_then(|c| c.origin.as_ref()) else {
            if recorded.is_none_or(|c| c.watermark.is_none()) {
                r.content_types
                    .push(ContentTypeChange::Added { content_type: ct });
            }
            continue;
        };
        let start = job.sync.start.to_string();
        let new_origin = job.sync.start_at(now);
        if new_origin < origin.at {
            let floor = plan::retention_floor(now);
            let readable = Window::new(new_origin.max(floor), origin.at);
            let beyond = Window::new(new_origin, origin.at.min(floor));
            r.content_types.push(ContentTypeChange::StartEarlier {
                content_type: ct,
                recorded_start: origin.start.clone(),
                start,
                origin: origin.at,
                new_origin,
                readable: (!readable.is_empty()).then_some(readable),
                beyond_retention: (!beyond.is_empty()).then_some(beyond),
            });
        } else if !origin.start.is_empty() && origin.start != start {
            r.content_types.push(ContentTypeChange::StartLater {
                content_type: ct,
                recorded_start: origin.start.clone(),
                start,
                origin: origin.at,
            });
        }
    }
    r.content_types.sort_by_key(ContentTypeChange::content_type);
    r
}

/// `o365sync backfill JOB --from T --to T --redeliver` over what the old sink received and the API still serves:
/// from the oldest origin (at most 7 days back) to the newest watermark.
fn redeliver_command(job: &Job, summary: &StateSummary, now: Timestamp) -> String {
    let floor = plan::retention_floor(now);
    let collected = summary
        .content_types
        .iter()
        .filter(|c| job.content_types.contains(&c.content_type));
    let from = collected
        .clone()
        .filter_map(|c| c.origin.as_ref().map(|o| o.at).or(c.watermark))
        .min()
        .unwrap_or(floor)
        .max(floor);
    let to = collected
        .filter_map(|c| c.watermark)
        .max()
        .unwrap_or(now)
        .max(from);
    format!(
        "o365sync backfill {} --from {} --to {} --redeliver",
        job.file.display(),
        round_up(from),
        round_up(to)
    )
}

/// Whole seconds, rounded up (a `--from` rounded down could ask for a second already out of retention).
fn round_up(t: Timestamp) -> Timestamp {
    let s = t.as_second() + i64::from(t.subsec_nanosecond() > 0);
    Timestamp::from_second(s).unwrap_or(t)
}

/// An absolute path with `.` and `..` resolved lexically (the sink's directory may not exist yet).
fn normalized(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_paths_are_compared_after_lexical_normalization() {
        let a = Sink::Jsonl {
            path: PathBuf::from("/srv/jobs/../out/x"),
            compress: None,
            file_mode: crate::sink::FileMode::JSONL,
        };
        let b = Sink::Jsonl {
            path: PathBuf::from("/srv/out/./x"),
            compress: Some(crate::sink::Compression::Zstd),
            file_mode: crate::sink::FileMode::SQLITE,
        };
        assert_eq!(sink_identity(&a), "jsonl:/srv/out/x");
        assert_eq!(sink_identity(&a), sink_identity(&b));
        assert_eq!(sink_identity(&Sink::Stdout), "stdout");
        assert_ne!(
            sink_identity(&Sink::Sqlite {
                path: PathBuf::from("/srv/out/x"),
                file_mode: crate::sink::FileMode::SQLITE,
            }),
            sink_identity(&a)
        );
    }

    #[test]
    fn round_up_keeps_whole_seconds_and_rounds_fractions_up() {
        let t = Timestamp::from_second(100).unwrap();
        assert_eq!(round_up(t), t);
        let f = Timestamp::from_nanosecond(100_000_000_001).unwrap();
        assert_eq!(round_up(f), Timestamp::from_second(101).unwrap());
    }
}

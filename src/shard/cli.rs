//! `o365sync shards [PATH…] --count N [--json] [--from-count M]`: which shard runs each job, and which jobs (and so
//! which state files) move when the number of shards changes.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::shard_of;
use crate::exit::Outcome;
use crate::global::GlobalArgs;
use crate::job::{self, Context, ProcessEnv};
use crate::logging::LogFormat;

/// The most shards `shards` prints (a line each).
pub const MAX_COUNT: u32 = 65_536;

#[derive(Debug, clap::Args)]
pub struct ShardsArgs {
    /// Job files or directories of job files.
    #[arg(default_value = "jobs")]
    pub paths: Vec<PathBuf>,
    /// The number of shards (StatefulSet replicas) to assign the jobs to.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_COUNT)))]
    pub count: u32,
    /// Also list the jobs that move when going from M shards to N: their state must move to the new shard's volume
    /// (`state export` / `state import`).
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_COUNT)))]
    pub from_count: Option<u32>,
    /// Print the assignment as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The assignment of jobs to shards that `shards` prints; the field names are a stable interface for scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// The number of shards.
    pub count: u32,
    /// Every shard, `0..count`, with its jobs sorted by name.
    pub shards: Vec<ShardJobs>,
    /// With `--from-count`: the number of shards the moves start from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_count: Option<u32>,
    /// With `--from-count`: the jobs whose shard differs between `from_count` and `count`, sorted by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moves: Option<Vec<Move>>,
}

/// One shard and its jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardJobs {
    /// The 0-based shard index.
    pub index: u32,
    /// Its jobs, sorted by name.
    pub jobs: Vec<JobEntry>,
}

/// A job and the file that defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobEntry {
    /// The job name (which keys its state).
    pub name: String,
    /// The job file.
    pub file: String,
}

/// A job that runs on another shard after re-sharding: its state must move with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// The job name.
    pub name: String,
    /// The job file.
    pub file: String,
    /// Its shard among `from_count`.
    pub from: u32,
    /// Its shard among `count`.
    pub to: u32,
}

/// Assigns `jobs` (name and file) to `count` shards, and with `from_count` lists the jobs that change shard going
/// from `from_count` to `count` shards. A count of 0 is taken as 1.
pub fn assign(jobs: &[JobEntry], count: u32, from_count: Option<u32>) -> Assignment {
    let count = count.max(1);
    let mut sorted: Vec<&JobEntry> = jobs.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.file.cmp(&b.file)));
    let mut shards: Vec<ShardJobs> = (0..count)
        .map(|index| ShardJobs {
            index,
            jobs: Vec::new(),
        })
        .collect();
    for j in &sorted {
        if let Some(shard) = shards.get_mut(shard_of(&j.name, count) as usize) {
            shard.jobs.push((*j).clone());
        }
    }
    let from_count = from_count.map(|m| m.max(1));
    let moves = from_count.map(|m| {
        sorted
            .iter()
            .filter_map(|j| {
                let (from, to) = (shard_of(&j.name, m), shard_of(&j.name, count));
                (from != to).then(|| Move {
                    name: j.name.clone(),
                    file: j.file.clone(),
                    from,
                    to,
                })
            })
            .collect()
    });
    Assignment {
        count,
        shards,
        from_count,
        moves,
    }
}

fn jobs(n: usize) -> &'static str {
    if n == 1 { "job" } else { "jobs" }
}

impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .shards
            .iter()
            .flat_map(|s| &s.jobs)
            .map(|j| j.name.len())
            .max()
            .unwrap_or(0);
        for s in &self.shards {
            writeln!(
                f,
                "shard {}/{}: {} {}",
                s.index,
                self.count,
                s.jobs.len(),
                jobs(s.jobs.len())
            )?;
            for j in &s.jobs {
                writeln!(f, "  {:width$}  {}", j.name, j.file)?;
            }
        }
        if let (Some(from), Some(moves)) = (self.from_count, &self.moves) {
            writeln!(
                f,
                "moves from {from} to {} shards: {} {}",
                self.count,
                moves.len(),
                jobs(moves.len())
            )?;
            let width = moves.iter().map(|m| m.name.len()).max().unwrap_or(0);
            for m in moves {
                writeln!(
                    f,
                    "  {:width$}  shard {} -> {}  {}",
                    m.name, m.from, m.to, m.file
                )?;
            }
        }
        Ok(())
    }
}

/// Prints a job file's problem like `run` does: as it is with text logs, as a log event with `--log-format json`.
fn problem(format: LogFormat, error: bool, text: &str) {
    match (format, error) {
        (LogFormat::Text, _) => eprintln!("{text}"),
        (LogFormat::Json, true) => tracing::error!(status = "invalid", "{text}"),
        (LogFormat::Json, false) => tracing::warn!("{text}"),
    }
}

/// `o365sync shards [PATH…] --count N [--json] [--from-count M]`. The job files load as for `run` (a job name used
/// by two files is an error); any file that does not load makes it print nothing on standard output and exit 2, as
/// an assignment missing a job would misplace that job's state.
pub fn shards(global: &GlobalArgs, args: ShardsArgs) -> Outcome {
    let ctx = Context {
        env: &ProcessEnv,
        now: Timestamp::now(),
    };
    let batch = job::load_all(&args.paths, &ctx);
    for failed in &batch.failed {
        problem(global.log_format, true, &failed.to_string());
    }
    for l in &batch.loaded {
        for w in &l.warnings {
            problem(global.log_format, false, &w.to_string());
        }
    }
    if !batch.failed.is_empty() {
        problem(
            global.log_format,
            true,
            &format!(
                "error: {} of the job files did not load: fix them first, as an assignment without them would \
                 misplace their state",
                batch.failed.len()
            ),
        );
        return Outcome::Invalid;
    }
    if batch.loaded.is_empty() {
        problem(
            global.log_format,
            true,
            "error: no job files found: give a job file or a directory holding *.yaml job files",
        );
        return Outcome::Invalid;
    }
    let entries: Vec<JobEntry> = batch
        .loaded
        .iter()
        .map(|l| JobEntry {
            name: l.job.name.clone(),
            file: l.job.file.display().to_string(),
        })
        .collect();
    let assignment = assign(&entries, args.count, args.from_count);
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        match serde_json::to_string_pretty(&assignment) {
            Ok(s) => writeln!(out, "{s}"),
            Err(e) => {
                eprintln!("error: cannot print the assignment as JSON: {e}");
                return Outcome::Failed;
            }
        }
    } else {
        write!(out, "{assignment}")
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => Outcome::Done,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            Outcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<JobEntry> {
        (0..n)
            .map(|i| JobEntry {
                name: format!("job-{i:03}"),
                file: format!("jobs/job-{i:03}.yaml"),
            })
            .collect()
    }

    #[test]
    fn the_assignment_is_disjoint_and_complete_and_moves_go_to_the_new_shard() {
        let jobs = entries(200);
        let a = assign(&jobs, 4, Some(3));
        assert_eq!(a.shards.len(), 4);
        let mut seen: Vec<&str> = a
            .shards
            .iter()
            .flat_map(|s| s.jobs.iter().map(|j| j.name.as_str()))
            .collect();
        seen.sort();
        let mut all: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        all.sort();
        assert_eq!(seen, all);
        let moves = a.moves.as_ref().unwrap();
        assert!(!moves.is_empty() && moves.len() < 100, "{}", moves.len());
        assert!(moves.iter().all(|m| m.to == 3 && m.from < 3));
        let in_new: Vec<&str> = a.shards[3].jobs.iter().map(|j| j.name.as_str()).collect();
        let moved: Vec<&str> = moves.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(in_new, moved);
    }

    #[test]
    fn text_and_json_name_every_shard() {
        let a = assign(&entries(3), 2, Some(1));
        let text = a.to_string();
        assert!(text.starts_with("shard 0/2: "), "{text}");
        assert!(text.contains("\nshard 1/2: "), "{text}");
        assert!(text.contains("moves from 1 to 2 shards: "), "{text}");
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["count"], 2);
        assert_eq!(json["shards"][1]["index"], 1);
        assert!(json["moves"].is_array());
        let plain = serde_json::to_value(assign(&entries(3), 2, None)).unwrap();
        assert!(plain.get("moves").is_none() && plain.get("from_count").is_none());
    }
}

//! Phase 2: pure validation. Expands `${VAR}` in every string (the environment is an input), checks every value and
//! builds the [`Job`] with paths still as written. Collects every problem of the file rather than stopping at the
//! first. No file system access and no clock: `now` is an input too.

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use url::{Host, Url};
use uuid::Uuid;

use super::diag::{Issue, Loc};
use super::duration::{DURATION_HELP, When, format_duration, parse_duration, parse_when};
use super::expand::{Env, expand, valid_name};
use super::model::{
    Compression, ElasticAuth, ElasticsearchConfig, Endpoints, FileMode, Job, LogsIngestionConfig,
    Output, OutputFormat, Passphrase, SecretSource, Signing, Sink, SplunkConfig, Sync, Tenant,
};
use super::raw::{RawEndpoints, RawJob, RawOutput, RawSink, RawSync, RawTenant, Text};
use crate::cloud::Cloud;
use crate::content_type::ContentType;
use crate::plan::{MAX_WINDOW, MIN_WINDOW};

/// Default `sync.start`.
pub const DEFAULT_START: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Default `sync.window`.
pub const DEFAULT_WINDOW: SignedDuration = SignedDuration::from_hours(1);
/// Default `sync.lookback`.
pub const DEFAULT_LOOKBACK: SignedDuration = SignedDuration::from_hours(2);
/// Longest `sync.lookback`.
pub const MAX_LOOKBACK: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Default `sync.max_requests_per_minute` (the API's documented per-tenant budget).
pub const DEFAULT_MAX_REQUESTS_PER_MINUTE: u32 = 2000;
/// Highest `sync.max_requests_per_minute` accepted.
pub const MAX_REQUESTS_PER_MINUTE: u32 = 10_000;
/// Longest job name.
pub const MAX_NAME_LEN: usize = 64;

/// The inputs validation depends on besides the file itself.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Where `${VAR}` values come from.
    pub env: &'a dyn Env,
    /// The clock reading, for warnings about instants.
    pub now: Timestamp,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Locations of a certificate credential's paths, which the build phase checks on disk.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathLocs {
    pub certificate: Option<Loc>,
    pub private_key: Option<Loc>,
    pub passphrase_file: Option<Loc>,
    pub passphrase_env: Option<Loc>,
}

impl PathLocs {
    fn of(t: &RawTenant) -> Self {
        PathLocs {
            certificate: Some(Loc::of(&t.certificate)),
            private_key: t.private_key.as_ref().map(Loc::of),
            passphrase_file: t.private_key_passphrase_file.as_ref().map(Loc::of),
            passphrase_env: t.private_key_passphrase_env.as_ref().map(Loc::of),
        }
    }
}

/// A validated job (paths as written), where its credentials' paths were written, and its warnings.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub job: Job,
    /// The tenant's credential.
    pub locs: PathLocs,
    /// The Logs Ingestion sink's own credential (`sink.auth`), when it has one.
    pub sink_auth_locs: Option<PathLocs>,
    pub warnings: Vec<Issue>,
}

/// Validates a parsed job file. Errors: every problem found (warnings included, after the errors).
pub(crate) fn validate(raw: &RawJob, ctx: &Context<'_>) -> Result<Checked, Vec<Issue>> {
    let mut v = V {
        ctx,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let job = v.job(raw);
    match job {
        Some(job) if v.errors.is_empty() => Ok(Checked {
            job,
            locs: PathLocs::of(&raw.tenant.value),
            sink_auth_locs: raw.sink.value.auth.as_ref().map(|a| PathLocs::of(&a.value)),
            warnings: v.warnings,
        }),
        _ => {
            let mut all = v.errors;
            all.sort_by_key(|i| i.loc);
            all.extend(v.warnings);
            Err(all)
        }
    }
}

struct V<'a, 'c> {
    ctx: &'a Context<'c>,
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
}

impl V<'_, '_> {
    fn err(&mut self, loc: Loc, message: impl Into<String>, help: impl Into<String>) {
        self.errors.push(Issue::error(loc, message, help));
    }

    /// The expanded string, or `None` after recording why it could not be expanded.
    fn text(&mut self, t: &Text) -> Option<String> {
        match expand(&t.value, self.ctx.env) {
            Ok(s) => Some(s),
            Err(e) => {
                self.err(Loc::of(t), e.to_string(), e.help());
                None
            }
        }
    }

    fn job(&mut self, raw: &RawJob) -> Option<Job> {
        if raw.version.value != 1 {
            self.err(
                Loc::of(&raw.version),
                format!("unsupported job file version {}", raw.version.value),
                "this o365sync reads `version: 1` job files",
            );
        }
        let name = self.name(&raw.name);
        let tenant = self.tenant(&raw.tenant.value, "tenant");
        let content_types = self.content_types(raw);
        let sync = self.sync(raw.sync.as_ref().map(|s| &s.value));
        let output = self.output(raw.output.as_ref().map(|o| &o.value));
        let sink = self.sink(&raw.sink.value, Loc::of(&raw.sink));
        let endpoints = self.endpoints(raw.endpoints.as_ref().map(|e| &e.value));
        Some(Job {
            file: PathBuf::new(),
            name: name?,
            tenant: tenant?,
            content_types: content_types?,
            sync: sync?,
            output: output?,
            sink: sink?,
            endpoints: endpoints?,
        })
    }

    fn name(&mut self, t: &Text) -> Option<String> {
        let s = self.text(t)?;
        let mut chars = s.chars();
        let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            && s.len() <= MAX_NAME_LEN;
        if !ok {
            self.err(
                Loc::of(t),
                format!("invalid job name `{s}`"),
                format!(
                    "use lowercase letters, digits, `_` and `-`, starting with a letter or digit, at most {MAX_NAME_LEN} \
                     characters (e.g. contoso-gcc)"
                ),
            );
            return None;
        }
        Some(s)
    }

    fn guid(&mut self, t: &Text, key: &str, help: &str) -> Option<Uuid> {
        let s = self.text(t)?;
        let parsed = (s.len() == 36)
            .then(|| Uuid::try_parse(&s).ok())
            .flatten()
            .filter(|u| !u.is_nil());
        if parsed.is_none() {
            let why = if s.contains('.') {
                " (a domain name does not work here)"
            } else {
                ""
            };
            self.err(
                Loc::of(t),
                format!("{key} `{s}` is not a GUID{why}"),
                format!("{help}, written like 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718"),
            );
        }
        parsed
    }

    /// The `tenant` section, or a sink's `auth` section of the same shape: `key` names it in messages.
    fn tenant(&mut self, t: &RawTenant, key: &str) -> Option<Tenant> {
        let id = self.guid(
            &t.id,
            &format!("{key}.id"),
            "use the Directory (tenant) ID shown on the Entra admin center's Overview page",
        );
        let cloud = self.text(&t.cloud).and_then(|s| match s.parse::<Cloud>() {
            Ok(c) => Some(c),
            Err(e) => {
                self.err(
                    Loc::of(&t.cloud),
                    e.to_string(),
                    "gcc is GCC (public Entra login, manage-gcc.office.com); gcc-high and dod use login.microsoftonline.us",
                );
                None
            }
        });
        let client_id = self.guid(
            &t.client_id,
            &format!("{key}.client_id"),
            "use the Application (client) ID shown on the app registration's Overview page",
        );
        let certificate = self.path(&t.certificate, &format!("{key}.certificate"));
        let private_key = match &t.private_key {
            Some(k) => self.path(k, &format!("{key}.private_key")).map(Some),
            None => Some(None),
        };
        let passphrase = self
            .secret(
                t.private_key_passphrase_env.as_ref(),
                t.private_key_passphrase_file.as_ref(),
                "private_key_passphrase",
                "the private key's passphrase",
            )
            .map(|source| {
                source.map(|s| match s {
                    SecretSource::Env(name) => Passphrase::Env(name),
                    SecretSource::File(path) => Passphrase::File(path),
                })
            });
        let signing = match &t.signing {
            None => Some(Signing::default()),
            Some(s) => self.text(s).and_then(|v| {
                if v.eq_ignore_ascii_case("RS256") {
                    Some(Signing::Rs256)
                } else if v.eq_ignore_ascii_case("PS256") {
                    Some(Signing::Ps256)
                } else {
                    self.err(
                        Loc::of(s),
                        format!("unknown signing algorithm `{v}`"),
                        "use RS256 (x5t, the default) or PS256 (x5t#S256)",
                    );
                    None
                }
            }),
        };
        let publisher_id = match &t.publisher_id {
            None => id,
            Some(p) => self.guid(
                p,
                &format!("{key}.publisher_id"),
                "use your own tenant ID (the default when publisher_id is left out)",
            ),
        };
        Some(Tenant {
            id: id?,
            cloud: cloud?,
            client_id: client_id?,
            certificate: certificate?,
            private_key: private_key?,
            passphrase: passphrase?,
            signing: signing?,
            publisher_id: publisher_id?,
        })
    }

    fn path(&mut self, t: &Text, key: &str) -> Option<PathBuf> {
        let s = self.text(t)?;
        if s.trim().is_empty() {
            self.err(
                Loc::of(t),
                format!("{key} is empty"),
                "give a file path (relative paths are relative to the job file)",
            );
            return None;
        }
        Some(PathBuf::from(s))
    }

    fn content_types(&mut self, raw: &RawJob) -> Option<Vec<ContentType>> {
        let Some(list) = &raw.content_types else {
            return Some(ContentType::ALL.to_vec());
        };
        if list.value.is_empty() {
            self.err(
                Loc::of(list),
                "content_types is empty",
                "list at least one content type, or leave the key out to collect all five",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for item in &list.value {
            let Some(s) = self.text(item) else {
                ok = false;
                continue;
            };
            match s.parse::<ContentType>() {
                Ok(ct) if out.contains(&ct) => {
                    self.err(
                        Loc::of(item),
                        format!("content type {ct} is listed twice"),
                        "list it once",
                    );
                    ok = false;
                }
                Ok(ct) => out.push(ct),
                Err(e) => {
                    self.err(
                        Loc::of(item),
                        e.to_string(),
                        "Teams, Power BI, Defender and every other workload are in Audit.General",
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn duration(&mut self, t: &Text, key: &str) -> Option<SignedDuration> {
        let s = self.text(t)?;
        match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(Loc::of(t), format!("{key}: {e}"), DURATION_HELP);
                None
            }
        }
    }

    fn sync(&mut self, raw: Option<&RawSync>) -> Option<Sync> {
        let (start_t, window_t, lookback_t, mrpm) = match raw {
            Some(r) => (
                r.start.as_ref(),
                r.window.as_ref(),
                r.lookback.as_ref(),
                r.max_requests_per_minute.as_ref(),
            ),
            None => (None, None, None, None),
        };
        let start = match start_t {
            None => Some(When::Ago(DEFAULT_START)),
            Some(t) => self.start(t),
        };
        let window = match window_t {
            None => Some(DEFAULT_WINDOW),
            Some(t) => self.duration(t, "window").and_then(|w| {
                if w < MIN_WINDOW || w > MAX_WINDOW {
                    self.err(
                        Loc::of(t),
                        format!("window {} is outside 1m ..= 24h", format_duration(w)),
                        "the API lists at most 24 hours per request; 1h is a good default",
                    );
                    None
                } else {
                    Some(w)
                }
            }),
        };
        let lookback = match lookback_t {
            None => Some(DEFAULT_LOOKBACK),
            Some(t) => self.duration(t, "lookback").and_then(|l| {
                if l > MAX_LOOKBACK {
                    self.err(
                        Loc::of(t),
                        format!("lookback {} is longer than 7d", format_duration(l)),
                        "content older than 7 days cannot be listed; 2h covers the usual late content",
                    );
                    None
                } else {
                    Some(l)
                }
            }),
        };
        let max_requests_per_minute = match mrpm {
            None => Some(DEFAULT_MAX_REQUESTS_PER_MINUTE),
            Some(n) if (1..=MAX_REQUESTS_PER_MINUTE).contains(&n.value) => Some(n.value),
            Some(n) => {
                self.err(
                    Loc::of(n),
                    format!("max_requests_per_minute {} is outside 1 ..= {MAX_REQUESTS_PER_MINUTE}", n.value),
                    "the API's budget is about 2000 requests per minute per tenant (E5/G5 about twice that)",
                );
                None
            }
        };
        Some(Sync {
            start: start?,
            window: window?,
            lookback: lookback?,
            max_requests_per_minute: max_requests_per_minute?,
        })
    }

    fn start(&mut self, t: &Text) -> Option<When> {
        let s = self.text(t)?;
        let when = match parse_when(&s) {
            Ok(w) => w,
            Err(e) => {
                self.err(
                    Loc::of(t),
                    format!("start: {e}"),
                    "write e.g. `start: 7d` or `start: 2026-11-20T00:00:00Z`",
                );
                return None;
            }
        };
        // The API keeps 7 days; the planner clamps to `now − 167h55m`. Only a start beyond the 7 days is worth a
        // warning: `7d` (the default) means "as far back as the API goes".
        let seven_days = SignedDuration::from_hours(7 * 24);
        let oldest = self
            .ctx
            .now
            .checked_sub(seven_days)
            .unwrap_or(Timestamp::MIN);
        let help = "the API keeps content for 7 days only; set start to 7d or less to say what the first run reads";
        match when {
            When::Ago(d) if d > seven_days => self.warnings.push(Issue::warning(
                Loc::of(t),
                format!("start {s} reaches past the API's 7-day retention; the first run is clamped to start at now - 167h55m"),
                help,
            )),
            When::At(at) if at < oldest => self.warnings.push(Issue::warning(
                Loc::of(t),
                format!("start {s} is older than the API's 7-day retention; the first run is clamped to start at now - 167h55m"),
                help,
            )),
            When::At(at) if at > self.ctx.now => self.warnings.push(Issue::warning(
                Loc::of(t),
                format!("start {s} is in the future; runs before then list nothing"),
                "use a past instant or a duration such as 1d",
            )),
            _ => {}
        }
        Some(when)
    }

    fn output(&mut self, raw: Option<&RawOutput>) -> Option<Output> {
        let Some(raw) = raw else {
            return Some(Output {
                format: OutputFormat::Ocsf,
                include_raw: false,
            });
        };
        let format = match &raw.format {
            None => Some(OutputFormat::Ocsf),
            Some(t) => self.text(t).and_then(|s| match s.as_str() {
                "ocsf" => Some(OutputFormat::Ocsf),
                "raw" => Some(OutputFormat::Raw),
                _ => {
                    self.err(
                        Loc::of(t),
                        format!("unknown output format `{s}`"),
                        "use ocsf (OCSF 1.8.0 events) or raw (the records unchanged)",
                    );
                    None
                }
            }),
        };
        let include_raw = raw.include_raw.as_ref().map(|b| b.value).unwrap_or(false);
        if let (Some(OutputFormat::Raw), Some(b)) = (format, &raw.include_raw)
            && b.value
        {
            self.err(
                Loc::of(b),
                "include_raw applies to format ocsf only",
                "with format raw the records are written unchanged already; remove include_raw",
            );
            return None;
        }
        Some(Output {
            format: format?,
            include_raw,
        })
    }

    fn sink(&mut self, raw: &RawSink, at: Loc) -> Option<Sink> {
        let kind = self.text(&raw.kind)?;
        if !self.sink_keys_fit(raw, &kind) {
            return None;
        }
        match kind.as_str() {
            "elasticsearch" => return self.elasticsearch(raw, at),
            "splunk_hec" => return self.splunk_hec(raw, at),
            "azure_logs_ingestion" => return self.logs_ingestion(raw, at),
            _ => {}
        }
        let path = raw.path.as_ref().map(|p| self.path(p, "sink.path"));
        let gzip = raw.gzip.as_ref();
        match kind.as_str() {
            "jsonl" => match path {
                Some(p) => {
                    let compress = self.compress(raw);
                    let file_mode = self.file_mode(raw, FileMode::JSONL);
                    Some(Sink::Jsonl {
                        path: p?,
                        compress: compress?,
                        file_mode: file_mode?,
                    })
                }
                None => {
                    self.err(
                        at,
                        "sink type jsonl needs a `path`",
                        "add `path:` naming the output directory, e.g. ../out/contoso",
                    );
                    None
                }
            },
            "sqlite" | "stdout" if let Some(g) = gzip => {
                self.err(
                    Loc::of(g),
                    format!("gzip applies to sink type jsonl only, not {kind}"),
                    "remove gzip",
                );
                None
            }
            "sqlite" | "stdout" if let Some(c) = &raw.compress => {
                self.err(
                    Loc::of(c),
                    format!("compress applies to sink type jsonl only, not {kind}"),
                    "remove compress",
                );
                None
            }
            "sqlite" => match path {
                Some(p) => {
                    let file_mode = self.file_mode(raw, FileMode::SQLITE);
                    Some(Sink::Sqlite {
                        path: p?,
                        file_mode: file_mode?,
                    })
                }
                None => {
                    self.err(
                        at,
                        "sink type sqlite needs a `path`",
                        "add `path:` naming the database file, e.g. ../out/contoso.db",
                    );
                    None
                }
            },
            "stdout" if let Some(m) = &raw.file_mode => {
                self.err(
                    Loc::of(m),
                    "file_mode applies to the file sinks (jsonl, sqlite) only, not stdout",
                    "remove file_mode",
                );
                None
            }
            "stdout" => match &raw.path {
                Some(p) => {
                    self.err(
                        Loc::of(p),
                        "sink type stdout takes no `path`",
                        "remove path, or use type jsonl to write files",
                    );
                    None
                }
                None => Some(Sink::Stdout),
            },
            _ => {
                self.err(
                    Loc::of(&raw.kind),
                    format!("unknown sink type `{kind}`"),
                    "use jsonl, stdout, sqlite, elasticsearch, splunk_hec or azure_logs_ingestion",
                );
                None
            }
        }
    }

    /// `sink.compress` of a `jsonl` sink, and its deprecated alias `gzip: true|false` (a warning).
    /// `sink.file_mode` of a file sink, or `default`.
    fn file_mode(&mut self, raw: &RawSink, default: FileMode) -> Option<FileMode> {
        let Some(t) = &raw.file_mode else {
            return Some(default);
        };
        let s = self.text(t)?;
        match FileMode::parse(&s) {
            Ok(mode) => Some(mode),
            Err(e) => {
                self.err(Loc::of(t), e.message, e.help);
                None
            }
        }
    }

    fn compress(&mut self, raw: &RawSink) -> Option<Option<Compression>> {
        match (&raw.compress, &raw.gzip) {
            (Some(_), Some(g)) => {
                self.err(
                    Loc::of(g),
                    "sink.gzip and sink.compress are both given",
                    "remove gzip: it is the deprecated spelling of `compress: gzip`",
                );
                None
            }
            (None, Some(g)) => {
                let (message, help) = if g.value {
                    (
                        "sink.gzip is deprecated: write `compress: gzip` instead",
                        "replace `gzip: true` with `compress: gzip` (or `compress: zstd` for smaller files)",
                    )
                } else {
                    (
                        "sink.gzip is deprecated: remove `gzip: false`",
                        "files are uncompressed by default; `compress: none` says so explicitly",
                    )
                };
                self.warnings
                    .push(Issue::warning(Loc::of(g), message, help));
                Some(g.value.then_some(Compression::Gzip))
            }
            (Some(t), None) => {
                let s = self.text(t)?;
                match s.as_str() {
                    "gzip" => Some(Some(Compression::Gzip)),
                    "zstd" => Some(Some(Compression::Zstd)),
                    "none" => Some(None),
                    _ => {
                        self.err(
                            Loc::of(t),
                            format!("unknown compression `{s}`"),
                            "use gzip (.jsonl.gz), zstd (.jsonl.zst) or none (plain .jsonl)",
                        );
                        None
                    }
                }
            }
            (None, None) => Some(None),
        }
    }

    fn endpoints(&mut self, raw: Option<&RawEndpoints>) -> Option<Endpoints> {
        let Some(raw) = raw else {
            return Some(Endpoints::default());
        };
        let login = match &raw.login {
            None => Some(None),
            Some(t) => self.http_url(t, "endpoints.login", true).map(Some),
        };
        let api = match &raw.api {
            None => Some(None),
            Some(t) => self.http_url(t, "endpoints.api", true).map(Some),
        };
        let graph = match &raw.graph {
            None => Some(None),
            Some(t) => self.http_url(t, "endpoints.graph", true).map(Some),
        };
        Some(Endpoints {
            login: login?,
            api: api?,
            graph: graph?,
        })
    }

    /// An http(s) URL: `https` unless the host is loopback; with `origin_only`, scheme, host and port alone (host
    /// overrides), else a path is allowed (a proxy's prefix) but no query, fragment or credentials.
    fn http_url(&mut self, t: &Text, key: &str, origin_only: bool) -> Option<Url> {
        let s = self.text(t)?;
        let loc = Loc::of(t);
        let url = match Url::parse(&s) {
            Ok(u) => u,
            Err(e) => {
                self.err(
                    loc,
                    format!("{key} `{s}` is not a URL: {e}"),
                    "write scheme, host and port, e.g. https://proxy.example.net:8443",
                );
                return None;
            }
        };
        let host = url.host();
        if !matches!(url.scheme(), "http" | "https") || host.is_none() {
            self.err(
                loc,
                format!("{key} `{s}` is not an http(s) URL with a host"),
                "write e.g. https://proxy.example.net:8443",
            );
            return None;
        }
        let extra = !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some();
        if extra || (origin_only && !matches!(url.path(), "" | "/")) {
            let (message, help) = if origin_only {
                (
                    "has more than a scheme, host and port",
                    "endpoints replace the host only; remove the path, query, fragment or credentials",
                )
            } else {
                (
                    "carries credentials, a query or a fragment",
                    "give scheme, host, port (and a path prefix if a proxy needs one); credentials go in the _env or _file keys",
                )
            };
            self.err(loc, format!("{key} `{s}` {message}"), help);
            return None;
        }
        let loopback = match host {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if url.scheme() == "http" && !loopback {
            self.err(
                loc,
                format!("{key} `{s}` uses plain http to a non-loopback host"),
                "use https; plain http is allowed only for 127.0.0.1, ::1 and localhost (the local emulator)",
            );
            return None;
        }
        Some(url)
    }

    /// A credential from `<name>_env` or `<name>_file` (at most one): `Some(None)` when neither is given. An
    /// environment variable must be set (its value is never read here).
    fn secret(
        &mut self,
        env: Option<&Text>,
        file: Option<&Text>,
        name: &str,
        what: &str,
    ) -> Option<Option<SecretSource>> {
        match (env, file) {
            (Some(env), Some(_)) => {
                self.err(
                    Loc::of(env),
                    format!("both {name}_env and {name}_file are set"),
                    "keep one of them",
                );
                None
            }
            (Some(env), None) => self.text(env).and_then(|var| {
                if !valid_name(&var) {
                    self.err(
                        Loc::of(env),
                        format!("`{var}` is not an environment variable name"),
                        format!(
                            "give the variable's name (e.g. CONTOSO_SECRET), not {what} itself"
                        ),
                    );
                    None
                } else if self.ctx.env.var(&var).is_none() {
                    self.err(
                        Loc::of(env),
                        format!("environment variable `{var}` ({what}) is not set"),
                        format!("export {var} before running o365sync, or use {name}_file"),
                    );
                    None
                } else {
                    Some(Some(SecretSource::Env(var)))
                }
            }),
            (None, Some(file)) => self
                .path(file, &format!("{name}_file"))
                .map(|p| Some(SecretSource::File(p))),
            (None, None) => Some(None),
        }
    }

    /// Rejects keys of the sink section that belong to other sink types.
    fn sink_keys_fit(&mut self, raw: &RawSink, kind: &str) -> bool {
        let given: [(&str, Option<Loc>); 17] = [
            ("ack_timeout", raw.ack_timeout.as_ref().map(Loc::of)),
            ("url", raw.url.as_ref().map(Loc::of)),
            ("index", raw.index.as_ref().map(Loc::of)),
            ("api_key_env", raw.api_key_env.as_ref().map(Loc::of)),
            ("api_key_file", raw.api_key_file.as_ref().map(Loc::of)),
            ("username", raw.username.as_ref().map(Loc::of)),
            ("password_env", raw.password_env.as_ref().map(Loc::of)),
            ("password_file", raw.password_file.as_ref().map(Loc::of)),
            ("ca_file", raw.ca_file.as_ref().map(Loc::of)),
            ("token_env", raw.token_env.as_ref().map(Loc::of)),
            ("token_file", raw.token_file.as_ref().map(Loc::of)),
            ("sourcetype", raw.sourcetype.as_ref().map(Loc::of)),
            ("ack", raw.ack.as_ref().map(Loc::of)),
            ("endpoint", raw.endpoint.as_ref().map(Loc::of)),
            (
                "dcr_immutable_id",
                raw.dcr_immutable_id.as_ref().map(Loc::of),
            ),
            ("stream", raw.stream.as_ref().map(Loc::of)),
            ("auth", raw.auth.as_ref().map(Loc::of)),
        ];
        let file_keys = [
            ("path", raw.path.as_ref().map(Loc::of)),
            ("compress", raw.compress.as_ref().map(Loc::of)),
            ("gzip", raw.gzip.as_ref().map(Loc::of)),
            ("file_mode", raw.file_mode.as_ref().map(Loc::of)),
        ];
        let allowed: &[&str] = match kind {
            "elasticsearch" => &[
                "url",
                "index",
                "api_key_env",
                "api_key_file",
                "username",
                "password_env",
                "password_file",
                "ca_file",
            ],
            "splunk_hec" => &[
                "url",
                "token_env",
                "token_file",
                "index",
                "sourcetype",
                "ack",
                "ack_timeout",
                "ca_file",
            ],
            "azure_logs_ingestion" => &["endpoint", "dcr_immutable_id", "stream", "auth"],
            // The file sinks check their own keys with messages of their own.
            _ => &["path", "compress", "gzip", "file_mode"],
        };
        let mut fit = true;
        for (key, loc) in given.into_iter().chain(file_keys) {
            if let Some(loc) = loc
                && !allowed.contains(&key)
                && !(allowed.contains(&"path")
                    && matches!(key, "path" | "compress" | "gzip" | "file_mode"))
            {
                self.err(
                    loc,
                    format!("`{key}` does not apply to sink type {kind}"),
                    format!("remove it; sink type {kind} takes {}", keys_list(allowed)),
                );
                fit = false;
            }
        }
        fit
    }

    /// A required string key of the sink section.
    fn required(&mut self, t: Option<&Text>, key: &str, at: Loc, help: &str) -> Option<String> {
        let Some(t) = t else {
            self.err(at, format!("sink.{key} is missing"), help);
            return None;
        };
        let s = self.text(t)?;
        if s.trim().is_empty() {
            self.err(Loc::of(t), format!("sink.{key} is empty"), help);
            return None;
        }
        Some(s)
    }

    /// The required `sink.url` of `elasticsearch` and `splunk_hec`.
    fn sink_url(&mut self, raw: &RawSink, at: Loc, help: &str) -> Option<Url> {
        match &raw.url {
            Some(t) => self.http_url(t, "sink.url", false),
            None => {
                self.err(at, "sink.url is missing", help);
                None
            }
        }
    }

    fn ca_file(&mut self, raw: &RawSink) -> Option<Option<PathBuf>> {
        match &raw.ca_file {
            None => Some(None),
            Some(t) => self.path(t, "sink.ca_file").map(Some),
        }
    }

    fn elasticsearch(&mut self, raw: &RawSink, at: Loc) -> Option<Sink> {
        let url = self.sink_url(
            raw,
            at,
            "give the cluster's URL, e.g. https://es.example.com:9200",
        );
        let index = self
            .required(
                raw.index.as_ref(),
                "index",
                at,
                "name the index, alias or data stream, e.g. logs-o365.audit-default",
            )
            .and_then(|index| {
                let bad = index.chars().find(|c| {
                    c.is_ascii_uppercase() || c.is_whitespace() || "\\/*?\"<>|,#:".contains(*c)
                });
                if let Some(c) = bad.or(index
                    .starts_with(['-', '_', '+'])
                    .then(|| index.chars().next().unwrap_or('-')))
                {
                    self.err(
                        raw.index.as_ref().map_or(at, Loc::of),
                        format!("`{index}` is not a valid index name (`{c}`)"),
                        "index names are lower case, without spaces or \\ / * ? \" < > | , # :, and do not start with - _ +",
                    );
                    None
                } else {
                    Some(index)
                }
            });
        let api_key = self.secret(
            raw.api_key_env.as_ref(),
            raw.api_key_file.as_ref(),
            "api_key",
            "the Elasticsearch API key",
        );
        let password = self.secret(
            raw.password_env.as_ref(),
            raw.password_file.as_ref(),
            "password",
            "the Elasticsearch password",
        );
        let username = match &raw.username {
            Some(t) => self.text(t).map(Some),
            None => Some(None),
        };
        let auth = match (api_key?, username?, password?) {
            (Some(key), None, None) => Some(ElasticAuth::ApiKey(key)),
            (None, Some(username), Some(password)) => {
                Some(ElasticAuth::Basic { username, password })
            }
            (None, None, None) => Some(ElasticAuth::None),
            (Some(_), _, _) => {
                self.err(
                    raw.username
                        .as_ref()
                        .or(raw.password_env.as_ref())
                        .or(raw.password_file.as_ref())
                        .map_or(at, Loc::of),
                    "both an API key and a user name or password are given",
                    "keep api_key_env (or api_key_file), or username with password_env (or password_file)",
                );
                None
            }
            (None, Some(_), None) => {
                self.err(
                    raw.username.as_ref().map_or(at, Loc::of),
                    "sink.username has no password",
                    "add password_env or password_file",
                );
                None
            }
            (None, None, Some(_)) => {
                self.err(
                    raw.password_env
                        .as_ref()
                        .or(raw.password_file.as_ref())
                        .map_or(at, Loc::of),
                    "a password is given without sink.username",
                    "add username",
                );
                None
            }
        };
        let ca_file = self.ca_file(raw);
        Some(Sink::Elasticsearch(ElasticsearchConfig {
            url: url?,
            index: index?,
            auth: auth?,
            ca_file: ca_file?,
            batch_bytes: crate::sink::elasticsearch::DEFAULT_BATCH_BYTES,
        }))
    }

    fn splunk_hec(&mut self, raw: &RawSink, at: Loc) -> Option<Sink> {
        let url = self.sink_url(
            raw,
            at,
            "give the HEC URL, e.g. https://splunk.example.com:8088",
        );
        let token = match self.secret(
            raw.token_env.as_ref(),
            raw.token_file.as_ref(),
            "token",
            "the Splunk HEC token",
        ) {
            Some(Some(t)) => Some(t),
            Some(None) => {
                self.err(
                    at,
                    "the sink has no HEC token",
                    "add token_env (an environment variable's name) or token_file",
                );
                None
            }
            None => None,
        };
        let index = match &raw.index {
            Some(t) => self
                .required(
                    Some(t),
                    "index",
                    at,
                    "name the index, or remove index for the token's default",
                )
                .map(Some),
            None => Some(None),
        };
        let sourcetype = match &raw.sourcetype {
            Some(t) => self.required(
                Some(t),
                "sourcetype",
                at,
                "name the sourcetype, or remove it for o365:ocsf",
            ),
            None => Some(crate::sink::splunk::DEFAULT_SOURCETYPE.to_owned()),
        };
        let ack_timeout = match &raw.ack_timeout {
            None => Some(crate::sink::splunk::DEFAULT_ACK_TIMEOUT),
            Some(t) => self.duration(t, "sink.ack_timeout").and_then(|d| {
                match std::time::Duration::try_from(d) {
                    Ok(d) if d >= std::time::Duration::from_secs(1) && d <= std::time::Duration::from_secs(3600) => Some(d),
                    _ => {
                        self.err(
                            Loc::of(t),
                            format!("sink.ack_timeout {} is out of range", format_duration(d)),
                            "give between 1s and 1h; Splunk's default acknowledgement idle cleanup is 10m",
                        );
                        None
                    }
                }
            }),
        };
        let ca_file = self.ca_file(raw);
        Some(Sink::SplunkHec(SplunkConfig {
            url: url?,
            token: token?,
            index: index?,
            sourcetype: sourcetype?,
            ack: raw.ack.as_ref().is_none_or(|a| a.value),
            ca_file: ca_file?,
            ack_timeout: ack_timeout?,
            batch_bytes: crate::sink::splunk::DEFAULT_BATCH_BYTES,
        }))
    }

    fn logs_ingestion(&mut self, raw: &RawSink, at: Loc) -> Option<Sink> {
        let endpoint = match &raw.endpoint {
            Some(t) => self.http_url(t, "sink.endpoint", true),
            None => {
                self.err(
                    at,
                    "sink.endpoint is missing",
                    "give the data collection endpoint's logs ingestion URL, e.g. https://my-dce-abcd.eastus-1.ingest.monitor.azure.com",
                );
                None
            }
        };
        let dcr_help = "copy the rule's immutableId (JSON view of the data collection rule): dcr- and 32 hexadecimal digits";
        let dcr = self
            .required(
                raw.dcr_immutable_id.as_ref(),
                "dcr_immutable_id",
                at,
                dcr_help,
            )
            .and_then(|id| {
                let ok = id
                    .strip_prefix("dcr-")
                    .is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()));
                if ok {
                    Some(id)
                } else {
                    self.err(
                        raw.dcr_immutable_id.as_ref().map_or(at, Loc::of),
                        format!("`{id}` is not a data collection rule's immutable ID"),
                        dcr_help,
                    );
                    None
                }
            });
        let stream_help =
            "name a stream the rule declares, e.g. Custom-O365Audit_CL (docs/sentinel.md)";
        let stream = self
            .required(raw.stream.as_ref(), "stream", at, stream_help)
            .and_then(|stream| {
                if stream.starts_with("Custom-") || stream.starts_with("Microsoft-") {
                    Some(stream)
                } else {
                    self.err(
                        raw.stream.as_ref().map_or(at, Loc::of),
                        format!("`{stream}` is not a stream name: streams start with Custom- or Microsoft-"),
                        stream_help,
                    );
                    None
                }
            });
        let auth = match &raw.auth {
            None => Some(None),
            Some(a) => self.sink_auth(&a.value),
        };
        Some(Sink::AzureLogsIngestion {
            config: LogsIngestionConfig {
                endpoint: endpoint?,
                dcr_immutable_id: dcr?,
                stream: stream?,
            },
            auth: auth?,
        })
    }

    /// `sink.auth`: another app registration (another tenant, possibly another cloud) for the Logs Ingestion API.
    fn sink_auth(&mut self, a: &RawTenant) -> Option<Option<Tenant>> {
        if let Some(p) = &a.publisher_id {
            self.err(
                Loc::of(p),
                "publisher_id does not apply to sink.auth",
                "remove it; publisher_id belongs to the Management API calls, under `tenant`",
            );
            return None;
        }
        self.tenant(a, "sink.auth").map(Some)
    }
}

/// `a, b and c`, each in backticks; `no other key` for none.
fn keys_list(keys: &[&str]) -> String {
    match keys {
        [] => "no other key".to_owned(),
        [one] => format!("`{one}`"),
        [rest @ .., last] => format!(
            "{} and `{last}`",
            rest.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

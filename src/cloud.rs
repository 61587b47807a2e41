//! The four US Microsoft cloud profiles. One choice sets the token authority, the API host and the resource together
//! (management-api.md §1), so a job can never pair GCC High's login with the commercial API.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Microsoft cloud the Management Activity API runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Commercial (Enterprise) Microsoft 365.
    Commercial,
    /// Government Community Cloud: public Entra ID login, `manage-gcc.office.com` API.
    Gcc,
    /// GCC High: `login.microsoftonline.us`, `manage.office365.us`.
    GccHigh,
    /// Department of Defense: `login.microsoftonline.us`, `manage.protection.apps.mil`.
    Dod,
}

/// The endpoints and resource of one cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudProfile {
    /// Token authority, e.g. `https://login.microsoftonline.com`.
    pub authority: &'static str,
    /// Management Activity API host, e.g. `manage-gcc.office.com`.
    pub api_host: &'static str,
    /// Token resource (audience); the scope is this plus `/.default`.
    pub resource: &'static str,
}

impl Cloud {
    /// Every cloud, in documentation order.
    pub const ALL: [Cloud; 4] = [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod];

    /// The cloud's profile (one table, management-api.md §1).
    pub const fn profile(self) -> CloudProfile {
        match self {
            Cloud::Commercial => CloudProfile {
                authority: "https://login.microsoftonline.com",
                api_host: "manage.office.com",
                resource: "https://manage.office.com",
            },
            Cloud::Gcc => CloudProfile {
                authority: "https://login.microsoftonline.com",
                api_host: "manage-gcc.office.com",
                resource: "https://manage-gcc.office.com",
            },
            Cloud::GccHigh => CloudProfile {
                authority: "https://login.microsoftonline.us",
                api_host: "manage.office365.us",
                resource: "https://manage.office365.us",
            },
            Cloud::Dod => CloudProfile {
                authority: "https://login.microsoftonline.us",
                api_host: "manage.protection.apps.mil",
                resource: "https://manage.protection.apps.mil",
            },
        }
    }

    /// The OAuth scope to request: the resource plus `/.default`.
    pub fn scope(self) -> String {
        format!("{}/.default", self.profile().resource)
    }

    /// Azure Monitor's resource for the Logs Ingestion API: Azure commercial for commercial and GCC tenants (whose
    /// Entra ID and Azure subscriptions are commercial), Azure Government for GCC High and DoD.
    pub const fn monitor_resource(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://monitor.azure.com",
            Cloud::GccHigh | Cloud::Dod => "https://monitor.azure.us",
        }
    }

    /// The Microsoft Graph host of the cloud (GCC uses the global service, as commercial does).
    pub const fn graph_host(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "graph.microsoft.com",
            Cloud::GccHigh => "graph.microsoft.us",
            Cloud::Dod => "dod-graph.microsoft.us",
        }
    }

    /// Whether Microsoft Purview Audit Search (Graph's `security/auditLog/queries`) is offered to applications: in
    /// the global service only, so commercial and GCC; not in GCC High (L4) or DoD (L5).
    pub const fn has_audit_search(self) -> bool {
        matches!(self, Cloud::Commercial | Cloud::Gcc)
    }

    /// The OAuth scope of Microsoft Graph: `https://{graph host}/.default`.
    pub fn graph_scope(self) -> String {
        format!("https://{}/.default", self.graph_host())
    }

    /// The Audit Search root, `{graph}/v1.0/security/auditLog/`, on the cloud's Graph host or on `graph_override`
    /// (`endpoints.graph`: scheme, host and port only; plain http for loopback hosts only).
    pub fn audit_search_root(
        self,
        graph_override: Option<&str>,
    ) -> Result<url::Url, EndpointError> {
        let base = match graph_override {
            Some(v) => override_base("graph", v)?,
            None => {
                let base = format!("https://{}", self.graph_host());
                url::Url::parse(&base).map_err(|e| EndpointError::InvalidUrl {
                    key: "graph",
                    value: base.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        base.join("/v1.0/security/auditLog/")
            .map_err(|e| EndpointError::InvalidUrl {
                key: "graph",
                value: base.to_string(),
                reason: e.to_string(),
            })
    }

    /// The OAuth scope of the Logs Ingestion API: [`Cloud::monitor_resource`] plus `/.default`.
    pub fn monitor_scope(self) -> String {
        format!("{}/.default", self.monitor_resource())
    }

    /// The job-file spelling (`commercial`, `gcc`, `gcc-high`, `dod`).
    pub const fn name(self) -> &'static str {
        match self {
            Cloud::Commercial => "commercial",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcc-high",
            Cloud::Dod => "dod",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown cloud name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown cloud `{0}`: use one of commercial, gcc, gcc-high, dod")]
pub struct UnknownCloud(pub String);

impl FromStr for Cloud {
    type Err = UnknownCloud;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cloud::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCloud(s.to_owned()))
    }
}

/// The job file's optional `endpoints` section: replacement hosts for a proxy, a private endpoint or the emulator.
///
/// Each value is a base URL `scheme://host[:port]` without path, query or credentials; only the host changes —
/// the paths and the scope stay the cloud's. Plain `http://` is accepted for loopback hosts only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    /// Replaces the token authority (`endpoints.login`).
    pub login: Option<String>,
    /// Replaces the Management API host (`endpoints.api`).
    pub api: Option<String>,
}

/// The resolved endpoints of one tenant on one cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The cloud.
    pub cloud: Cloud,
    /// The tenant (GUID or verified domain).
    pub tenant: String,
    /// `{login}/{tenant}/oauth2/v2.0/token`: where the token request goes, and the assertion's `aud`.
    pub token_url: url::Url,
    /// `{api}/api/v1.0/{tenant}/activity/feed`: the Management Activity API root.
    pub api_root: url::Url,
    /// `{resource}/.default` of the cloud — never changed by overrides.
    pub scope: String,
}

impl Endpoints {
    /// The token host (with port when not the default), for messages.
    pub fn login_host(&self) -> String {
        host_of(&self.token_url)
    }

    /// The API host (with port when not the default), for messages.
    pub fn api_host(&self) -> String {
        host_of(&self.api_root)
    }
}

/// The host, with the port when it is not the scheme's default, for messages.
pub(crate) fn host_of(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => String::new(),
    }
}

/// A bad tenant ID or `endpoints` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL at all.
    #[error("endpoints.{key} `{value}` is not a URL ({reason}): write it as https://host[:port]")]
    InvalidUrl {
        /// `login`, `api` or `graph`.
        key: &'static str,
        /// The value given.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A scheme other than https/http.
    #[error("endpoints.{key} `{value}` uses an unsupported scheme: use https://")]
    UnsupportedScheme {
        /// `login`, `api` or `graph`.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// Plain http to a host that is not loopback.
    #[error(
        "endpoints.{key} `{value}` uses plain http:// to {host}, which is not a loopback address: use https:// (plain http is allowed only for 127.0.0.1, ::1 and localhost)"
    )]
    InsecureHttp {
        /// `login`, `api` or `graph`.
        key: &'static str,
        /// The value given.
        value: String,
        /// The host.
        host: String,
    },
    /// A path, query, fragment or credentials in an override.
    #[error(
        "endpoints.{key} `{value}` must be a scheme and host only, like https://login.example.net: endpoints replace hosts, the paths stay the cloud's"
    )]
    NotHostOnly {
        /// `login`, `api` or `graph`.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// A tenant ID that cannot name a tenant.
    #[error(
        "tenant id `{0}` is not usable: use the directory (tenant) GUID or a verified domain, not common/organizations/consumers"
    )]
    InvalidTenant(String),
}

impl EndpointError {
    /// A bad endpoint or tenant is a configuration error: exit code 2, nothing written.
    pub fn outcome(&self) -> crate::exit::Outcome {
        crate::exit::Outcome::Invalid
    }
}

impl UnknownCloud {
    /// An unknown cloud is a configuration error: exit code 2, nothing written.
    pub fn outcome(&self) -> crate::exit::Outcome {
        crate::exit::Outcome::Invalid
    }
}

fn override_base(key: &'static str, value: &str) -> Result<url::Url, EndpointError> {
    let url = url::Url::parse(value.trim()).map_err(|e| EndpointError::InvalidUrl {
        key,
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    let host_only = url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && (url.path() == "/" || url.path().is_empty());
    let host = match url.host() {
        Some(h) => h,
        None => {
            return Err(EndpointError::InvalidUrl {
                key,
                value: value.to_owned(),
                reason: "no host".to_owned(),
            });
        }
    };
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match &host {
                url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            };
            if !loopback {
                return Err(EndpointError::InsecureHttp {
                    key,
                    value: value.to_owned(),
                    host: host.to_string(),
                });
            }
        }
        _ => {
            return Err(EndpointError::UnsupportedScheme {
                key,
                value: value.to_owned(),
            });
        }
    }
    if !host_only {
        // Never echo credentials embedded in the URL.
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(EndpointError::NotHostOnly {
            key,
            value: shown.to_string(),
        });
    }
    Ok(url)
}

fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 255
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !["common", "organizations", "consumers"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tenant))
}

impl Cloud {
    /// Resolves the token URL, API root and scope of `tenant` on this cloud, with the job's host overrides.
    pub fn endpoints(
        self,
        tenant: &str,
        overrides: &EndpointOverrides,
    ) -> Result<Endpoints, EndpointError> {
        if !valid_tenant(tenant) {
            return Err(EndpointError::InvalidTenant(tenant.to_owned()));
        }
        let profile = self.profile();
        let login = match &overrides.login {
            Some(v) => override_base("login", v)?,
            None => url::Url::parse(profile.authority).map_err(|e| EndpointError::InvalidUrl {
                key: "login",
                value: profile.authority.to_owned(),
                reason: e.to_string(),
            })?,
        };
        let api = match &overrides.api {
            Some(v) => override_base("api", v)?,
            None => {
                let base = format!("https://{}", profile.api_host);
                url::Url::parse(&base).map_err(|e| EndpointError::InvalidUrl {
                    key: "api",
                    value: base.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        let token_url = login
            .join(&format!("/{tenant}/oauth2/v2.0/token"))
            .map_err(|e| EndpointError::InvalidTenant(format!("{tenant} ({e})")))?;
        let api_root = api
            .join(&format!("/api/v1.0/{tenant}/activity/feed"))
            .map_err(|e| EndpointError::InvalidTenant(format!("{tenant} ({e})")))?;
        Ok(Endpoints {
            cloud: self,
            tenant: tenant.to_owned(),
            token_url,
            api_root,
            scope: self.scope(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_search_is_offered_in_the_global_service_only() {
        assert!(Cloud::Commercial.has_audit_search() && Cloud::Gcc.has_audit_search());
        assert!(!Cloud::GccHigh.has_audit_search() && !Cloud::Dod.has_audit_search());
        assert_eq!(
            Cloud::Gcc.graph_scope(),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            Cloud::Gcc.audit_search_root(None).unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/security/auditLog/"
        );
        assert_eq!(
            Cloud::Commercial
                .audit_search_root(Some("http://127.0.0.1:8400"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8400/v1.0/security/auditLog/"
        );
        assert!(
            Cloud::Commercial
                .audit_search_root(Some("http://graph.example.com"))
                .is_err()
        );
    }

    #[test]
    fn profiles_match_the_reference_table() {
        assert_eq!(Cloud::Gcc.profile().api_host, "manage-gcc.office.com");
        assert_eq!(
            Cloud::Gcc.profile().authority,
            "https://login.microsoftonline.com"
        );
        assert_eq!(
            Cloud::GccHigh.scope(),
            "https://manage.office365.us/.default"
        );
        assert_eq!(
            Cloud::Dod.profile().authority,
            "https://login.microsoftonline.us"
        );
        assert_eq!(
            Cloud::Dod.scope(),
            "https://manage.protection.apps.mil/.default"
        );
        assert_eq!(
            Cloud::Commercial.scope(),
            "https://manage.office.com/.default"
        );
    }

    #[test]
    fn names_round_trip_and_unknown_names_say_what_to_use() {
        for c in Cloud::ALL {
            assert_eq!(c.name().parse::<Cloud>(), Ok(c));
        }
        let err = "azure-china".parse::<Cloud>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown cloud `azure-china`: use one of commercial, gcc, gcc-high, dod"
        );
    }

    const TENANT: &str = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";

    #[test]
    fn endpoints_follow_the_cloud_table() {
        let e = Cloud::GccHigh
            .endpoints(TENANT, &EndpointOverrides::default())
            .unwrap();
        assert_eq!(
            e.token_url.as_str(),
            format!("https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(
            e.api_root.as_str(),
            format!("https://manage.office365.us/api/v1.0/{TENANT}/activity/feed")
        );
        assert_eq!(e.scope, "https://manage.office365.us/.default");
        let gcc = Cloud::Gcc
            .endpoints(TENANT, &EndpointOverrides::default())
            .unwrap();
        assert_eq!(gcc.login_host(), "login.microsoftonline.com");
        assert_eq!(gcc.api_host(), "manage-gcc.office.com");
    }

    #[test]
    fn overrides_replace_hosts_only_and_keep_the_scope() {
        let o = EndpointOverrides {
            login: Some("http://127.0.0.1:8400".into()),
            api: Some("http://[::1]:9000/".into()),
        };
        let e = Cloud::Dod.endpoints(TENANT, &o).unwrap();
        assert_eq!(
            e.token_url.as_str(),
            format!("http://127.0.0.1:8400/{TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(
            e.api_root.as_str(),
            format!("http://[::1]:9000/api/v1.0/{TENANT}/activity/feed")
        );
        assert_eq!(e.scope, "https://manage.protection.apps.mil/.default");
        assert_eq!(e.login_host(), "127.0.0.1:8400");
        let https = EndpointOverrides {
            login: Some("https://login.proxy.example".into()),
            api: None,
        };
        let e = Cloud::Commercial.endpoints("contoso.com", &https).unwrap();
        assert_eq!(
            e.token_url.as_str(),
            "https://login.proxy.example/contoso.com/oauth2/v2.0/token"
        );
        assert_eq!(e.api_host(), "manage.office.com");
        let localhost = EndpointOverrides {
            login: Some("http://localhost:1".into()),
            api: Some("http://127.8.9.10".into()),
        };
        assert!(Cloud::Gcc.endpoints(TENANT, &localhost).is_ok());
    }

    #[test]
    fn plain_http_is_refused_for_non_loopback_hosts() {
        for (value, host) in [
            ("http://10.0.0.5:8400", "10.0.0.5"),
            ("http://login.example.net", "login.example.net"),
            ("http://localhost.evil.example", "localhost.evil.example"),
        ] {
            let o = EndpointOverrides {
                login: None,
                api: Some(value.into()),
            };
            let err = Cloud::Gcc.endpoints(TENANT, &o).unwrap_err();
            assert_eq!(
                err,
                EndpointError::InsecureHttp {
                    key: "api",
                    value: value.into(),
                    host: host.into()
                }
            );
            assert!(err.to_string().contains("use https://"), "{err}");
        }
    }

    #[test]
    fn malformed_overrides_and_tenants_are_refused() {
        let bad = |v: &str| EndpointOverrides {
            login: Some(v.into()),
            api: None,
        };
        assert!(matches!(
            Cloud::Gcc.endpoints(TENANT, &bad("login.example.net")),
            Err(EndpointError::InvalidUrl { key: "login", .. })
        ));
        assert!(matches!(
            Cloud::Gcc.endpoints(TENANT, &bad("ftp://127.0.0.1")),
            Err(EndpointError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            Cloud::Gcc.endpoints(TENANT, &bad("https://login.example.net/prefix")),
            Err(EndpointError::NotHostOnly { .. })
        ));
        let err = Cloud::Gcc
            .endpoints(TENANT, &bad("https://user:s3cret@login.example.net"))
            .unwrap_err();
        assert!(matches!(err, EndpointError::NotHostOnly { .. }));
        assert!(!err.to_string().contains("s3cret"), "{err}");
        for tenant in ["", "common", "a/b", "x?y"] {
            assert_eq!(
                Cloud::Gcc.endpoints(tenant, &EndpointOverrides::default()),
                Err(EndpointError::InvalidTenant(tenant.into()))
            );
        }
    }
}

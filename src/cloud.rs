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

#[cfg(test)]
mod tests {
    use super::*;

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
}

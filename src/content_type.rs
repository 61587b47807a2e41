//! The five content types of the Management Activity API (management-api.md §5).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A content type (a subscription, and the feed of blobs it yields).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum ContentType {
    /// Entra ID (Azure AD) sign-ins and directory audit.
    #[serde(rename = "Audit.AzureActiveDirectory")]
    AzureActiveDirectory,
    /// Exchange admin and mailbox audit.
    #[serde(rename = "Audit.Exchange")]
    Exchange,
    /// SharePoint and OneDrive.
    #[serde(rename = "Audit.SharePoint")]
    SharePoint,
    /// Every other workload (Teams, Power BI, Defender alerts, Copilot, ...).
    #[serde(rename = "Audit.General")]
    General,
    /// DLP events for all workloads.
    #[serde(rename = "DLP.All")]
    DlpAll,
}

impl ContentType {
    /// All five, in the order of the documentation.
    pub const ALL: [ContentType; 5] = [
        ContentType::AzureActiveDirectory,
        ContentType::Exchange,
        ContentType::SharePoint,
        ContentType::General,
        ContentType::DlpAll,
    ];

    /// The API's spelling, e.g. `Audit.Exchange`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::AzureActiveDirectory => "Audit.AzureActiveDirectory",
            ContentType::Exchange => "Audit.Exchange",
            ContentType::SharePoint => "Audit.SharePoint",
            ContentType::General => "Audit.General",
            ContentType::DlpAll => "DLP.All",
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown content type name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown content type `{0}`: use one of Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All"
)]
pub struct UnknownContentType(pub String);

impl FromStr for ContentType {
    type Err = UnknownContentType;

    /// Exact match first; a case-insensitive match is accepted too (the API itself is case-insensitive here).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContentType::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .or_else(|| {
                ContentType::ALL
                    .into_iter()
                    .find(|c| c.as_str().eq_ignore_ascii_case(s))
            })
            .ok_or_else(|| UnknownContentType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for ct in ContentType::ALL {
            assert_eq!(ct.as_str().parse::<ContentType>(), Ok(ct));
            let json = serde_json::to_string(&ct).unwrap();
            assert_eq!(json, format!("\"{}\"", ct.as_str()));
            assert_eq!(serde_json::from_str::<ContentType>(&json).unwrap(), ct);
        }
        assert_eq!(
            "audit.exchange".parse::<ContentType>(),
            Ok(ContentType::Exchange)
        );
        assert!(
            "Audit.Teams"
                .parse::<ContentType>()
                .unwrap_err()
                .to_string()
                .starts_with("unknown content type")
        );
    }
}

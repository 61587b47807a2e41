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

impl ContentType {
    /// The content type the Management API files a record under, from its `RecordType` and `Workload` (records
    /// read elsewhere, e.g. from Purview Audit Search, are routed with it). DLP policy matches and classifications
    /// (`ComplianceDLP…` record types) are `DLP.All`; the rest go by workload: Entra ID, Exchange, SharePoint and
    /// OneDrive have their own; every other workload, and a record naming none, is `Audit.General`.
    pub fn of_record(record_type: Option<i64>, workload: Option<&str>) -> ContentType {
        let rt = record_type.and_then(crate::normalize::record_types::record_type);
        if rt.is_some_and(|r| r.name.starts_with("ComplianceDLP")) {
            return ContentType::DlpAll;
        }
        let workload = workload
            .filter(|w| !w.is_empty())
            .or(rt.map(|r| r.workload))
            .unwrap_or("");
        if workload.eq_ignore_ascii_case("AzureActiveDirectory") {
            ContentType::AzureActiveDirectory
        } else if workload.eq_ignore_ascii_case("Exchange") {
            ContentType::Exchange
        } else if workload.eq_ignore_ascii_case("SharePoint")
            || workload.eq_ignore_ascii_case("OneDrive")
        {
            ContentType::SharePoint
        } else {
            ContentType::General
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
    fn records_are_routed_by_dlp_record_type_then_workload() {
        use ContentType as C;
        let cases = [
            (
                Some(15),
                Some("AzureActiveDirectory"),
                C::AzureActiveDirectory,
            ),
            (Some(8), None, C::AzureActiveDirectory),
            (Some(2), Some("Exchange"), C::Exchange),
            (Some(13), Some("Exchange"), C::DlpAll),
            (Some(11), Some("SharePoint"), C::DlpAll),
            (Some(33), Some("SharePoint"), C::DlpAll),
            (Some(6), Some("OneDrive"), C::SharePoint),
            (Some(4), Some("SharePoint"), C::SharePoint),
            (Some(25), Some("MicrosoftTeams"), C::General),
            (Some(261), Some("Copilot"), C::General),
            (Some(4711), Some("NewWorkload"), C::General),
            (None, None, C::General),
        ];
        for (rt, workload, want) in cases {
            assert_eq!(
                ContentType::of_record(rt, workload),
                want,
                "{rt:?} {workload:?}"
            );
        }
    }

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

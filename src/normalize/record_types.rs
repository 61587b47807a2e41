//! The class-choice table: every value of Microsoft's published `AuditLogRecordType` enumeration
//! (office-365-management-activity-api-schema.md, "Enum: AuditLogRecordType") with its workload, the family
//! [`Rule`] that picks the OCSF class and activity, and the reason; then the operations that override their record
//! type's family ([`OVERRIDES`]). [`super::classify::choose`] reads only these two tables, and
//! `docs/ocsf-mapping.md` is generated from them (`crate::docs::ocsf_mapping_reference`).
//!
//! A RecordType the table does not know (a future one) falls to [`Rule::Generic`]: an API call by whoever is named,
//! so it still gets a real class with actor, source, target and outcome from the common fields. Base Event is left
//! for records that carry nothing modellable (no Operation, or no user, application, object or client address).

use crate::content_type::ContentType;

/// How the operations of a record-type family become a class and an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Sign-ins: Authentication 3002, Logon, when a user is named.
    SignIn,
    /// Entra directory audit: users, groups, roles, other objects.
    Directory,
    /// Admin cmdlets (`Verb-Noun`): Entity Management by the cmdlet's verb.
    Cmdlet,
    /// Exchange mailbox audit: mailbox items as web resources.
    Mailbox,
    /// SharePoint and OneDrive events of mixed kinds: `File…` operations are file hosting, the rest web resources.
    SharePoint,
    /// File operations: File Hosting Activity.
    FileOp,
    /// Sharing operations: File Hosting Share / Unshare.
    Sharing,
    /// Teams: team lifecycle and membership as Group Management, the rest web resources.
    Teams,
    /// Mail verdicts of the threat-intelligence pipeline: Email Activity Scan.
    EmailScan,
    /// Alerts and investigations: Detection Finding.
    Detection,
    /// DLP: Data Security Finding.
    Dlp,
    /// Copilot interactions.
    Copilot,
    /// A cloud application's objects: Web Resources Activity by the operation's verb.
    App,
    /// Tenant settings and policies: Entity Management by the operation's verb.
    Settings,
    /// Calls of a REST API: API Activity when a caller and a client address exist.
    Api,
    /// A record type the table does not know: as [`Rule::Api`], and Base Event only when nothing is named.
    Generic,
}

impl Rule {
    /// Every rule, in the order the reference lists them.
    pub const ALL: [Rule; 16] = [
        Rule::SignIn,
        Rule::Directory,
        Rule::Cmdlet,
        Rule::Mailbox,
        Rule::SharePoint,
        Rule::FileOp,
        Rule::Sharing,
        Rule::Teams,
        Rule::EmailScan,
        Rule::Detection,
        Rule::Dlp,
        Rule::Copilot,
        Rule::App,
        Rule::Settings,
        Rule::Api,
        Rule::Generic,
    ];

    /// The rule's name in the reference.
    pub const fn name(self) -> &'static str {
        match self {
            Rule::SignIn => "sign-in",
            Rule::Directory => "directory",
            Rule::Cmdlet => "cmdlet",
            Rule::Mailbox => "mailbox",
            Rule::SharePoint => "sharepoint",
            Rule::FileOp => "file",
            Rule::Sharing => "sharing",
            Rule::Teams => "teams",
            Rule::EmailScan => "mail verdict",
            Rule::Detection => "detection",
            Rule::Dlp => "dlp",
            Rule::Copilot => "copilot",
            Rule::App => "app",
            Rule::Settings => "settings",
            Rule::Api => "api",
            Rule::Generic => "generic",
        }
    }

    /// The class (or classes) the rule chooses, as the reference names them.
    pub const fn classes(self) -> &'static str {
        match self {
            Rule::SignIn => "Authentication 3002",
            Rule::Directory => {
                "Account Change 3001, Group Management 3006, User Access Management 3005, Entity Management 3004"
            }
            Rule::Cmdlet | Rule::Settings => "Entity Management 3004",
            Rule::Mailbox => "Web Resources Activity 6001",
            Rule::SharePoint => "File Hosting Activity 6006 or Web Resources Activity 6001",
            Rule::FileOp => "File Hosting Activity 6006",
            Rule::Sharing => {
                "File Hosting Activity 6006; User Access Management 3005 or Group Management 3006 with a named grantee"
            }
            Rule::Teams => "Group Management 3006 or Web Resources Activity 6001",
            Rule::EmailScan => "Email Activity 4009",
            Rule::Detection => "Detection Finding 2004",
            Rule::Dlp => "Data Security Finding 2006",
            Rule::Copilot => "API Activity 6003",
            Rule::App => "Web Resources Activity 6001",
            Rule::Api | Rule::Generic => "API Activity 6003, else Web Resources Activity 6001",
        }
    }

    /// How the rule chooses the activity, and what it falls back to when the record cannot fill the class's
    /// required attributes.
    pub const fn activity_rule(self) -> &'static str {
        match self {
            Rule::SignIn => {
                "1 Logon, the outcome in `status_id` (a failed sign-in is status 2); without a user: the generic rule"
            }
            Rule::Directory => {
                "`Add user.` 1, `Delete user.` 6, `Enable account.` 2, `Disable account.` 5, `Change user password.` 3, \
                 `Reset user password.` 4, `Update user.` 99 (MFA changes 10/11) → Account Change; group operations → \
                 Group Management (create 6, delete 5, add member 3, remove member 4, else 99); role membership → User \
                 Access Management; all need `ObjectId` (the target), else Entity Management. Other objects \
                 (applications, service principals, policies) → Entity Management: Add/Create/New 1, \
                 Update/Set/Change/Modify 3, Delete/Remove 4, else 99"
            }
            Rule::Cmdlet => {
                "by the cmdlet verb: New/Add/Install 1, Get 2, Set/Update 3, Remove/Uninstall 4, Enable 8, Disable 9, \
                 else 99; `api.operation` is the cmdlet"
            }
            Rule::Mailbox | Rule::App => {
                "by the operation's verb: Create 1, Read 2 (view, access, open, get), Update 3, Delete 4, Search 5 \
                 (search, query), Import 6 (upload), Export 7 (download), Share 8, else 99"
            }
            Rule::SharePoint => "`File…` operations as the file rule, the rest as the app rule",
            Rule::FileOp => {
                "Upload 1, Download 2, Update 3, Delete 4, Rename 5, Copy 6, Move 7, Restore 8, Preview 9, Open 14, \
                 Sync 15, Unsync 16, else 99; without a client address or an actor (system events such as \
                 `FileMalwareDetected`), or a search that names no object, the app rule"
            }
            Rule::Sharing => {
                "with a `TargetUserOrGroupName`: `AddedToGroup`/`RemovedFromGroup` Group Management Add/Remove User 3/4 \
                 (Add/Remove Subgroup 7/8 for a group), `SharingSet`, `AddedToSecureLink`, `AddedToSharingLink`, \
                 `SharingInvitationCreated`, `AccessRequestAccepted` User Access Management Assign Privileges 1 and \
                 `SharingRevoked`, `RemovedFromSecureLink`, `RemovedFromSharingLink`, `SharingInvitationRevoked` \
                 Revoke Privileges 2 (the grantee in `user`, the item in `resources`); otherwise Share 12, Unshare 13 \
                 (remove, revoke, delete), else 99; without a client address or an actor, Web Resources Share 8 or \
                 the app rule"
            }
            Rule::Teams => {
                "with a `TeamName`: `TeamCreated` 6, `TeamDeleted` 5, `MemberAdded` 3, `MemberRemoved` 4; the rest as \
                 the app rule"
            }
            Rule::EmailScan => "3 Scan; without a sender or recipient address, the app rule",
            Rule::Detection => {
                "Create 1 (triggered, created, detected, started), Update 2 (updated, entity generated, changed), Close 3 \
                 (resolved, closed, dismissed), else 99; without an alert or record id, the app rule"
            }
            Rule::Dlp => {
                "`DlpRuleMatch` 1 Create, `DlpInfo` 2 Update, `DlpRuleUndo` 4 Suppressed, else 99; without a record id, \
                 the app rule"
            }
            Rule::Copilot => {
                "99 (the operation) when a caller and a client address exist (the `src_endpoint` and `actor` API \
                 Activity requires), else Web Resources Read 2"
            }
            Rule::Settings => {
                "by the operation's verb: Create 1, Read 2, Update 3 (update, modify, change, set, applied), Delete 4, \
                 else 99"
            }
            Rule::Api | Rule::Generic => {
                "with a user or application and a client address: API Activity by the verb (Create 1, Read 2 with \
                 search and export, Update 3, Delete 4, else 99); with a user, application or object only: the app \
                 rule; with nothing named: Base Event 0"
            }
        }
    }
}

/// One value of `AuditLogRecordType`.
#[derive(Debug, Clone, Copy)]
pub struct RecordType {
    /// The enumeration value (`RecordType` of a record).
    pub value: i64,
    /// Microsoft's member name.
    pub name: &'static str,
    /// The `Workload` the records of this type usually carry.
    pub workload: &'static str,
    /// How their class and activity are chosen.
    pub rule: Rule,
    /// Why.
    pub reason: &'static str,
}

const fn row(
    value: i64,
    name: &'static str,
    workload: &'static str,
    rule: Rule,
    reason: &'static str,
) -> RecordType {
    RecordType {
        value,
        name,
        workload,
        rule,
        reason,
    }
}

/// Every published `AuditLogRecordType` value, ascending. 77, 81 and 131 appear in earlier versions of Microsoft's
/// page, 261 in Microsoft Purview's audit documentation; all are still emitted.
pub const RECORD_TYPES: &[RecordType] = &[
    row(
        1,
        "ExchangeAdmin",
        "Exchange",
        Rule::Cmdlet,
        "Exchange admin audit: every record is a cmdlet run against a configuration object",
    ),
    row(
        2,
        "ExchangeItem",
        "Exchange",
        Rule::Mailbox,
        "mailbox audit of one item: the mailbox item is a web resource of the mail service",
    ),
    row(
        3,
        "ExchangeItemGroup",
        "Exchange",
        Rule::Mailbox,
        "mailbox audit of several items (move, delete): same resource model as single items",
    ),
    row(
        4,
        "SharePoint",
        "SharePoint",
        Rule::SharePoint,
        "site, page and list events; file operations carried under this type are file hosting",
    ),
    row(
        6,
        "SharePointFileOperation",
        "SharePoint",
        Rule::FileOp,
        "file operations on SharePoint and OneDrive: the File Hosting class is made for them",
    ),
    row(
        7,
        "OneDrive",
        "OneDrive",
        Rule::SharePoint,
        "OneDrive events: file operations are file hosting, the rest are web resources",
    ),
    row(
        8,
        "AzureActiveDirectory",
        "AzureActiveDirectory",
        Rule::Directory,
        "Entra directory audit: users, groups, roles and the other directory objects",
    ),
    row(
        9,
        "AzureActiveDirectoryAccountLogon",
        "AzureActiveDirectory",
        Rule::SignIn,
        "OrgId account logons (deprecated): a logon of the named user",
    ),
    row(
        10,
        "DataCenterSecurityCmdlet",
        "Exchange",
        Rule::Cmdlet,
        "datacenter security cmdlets: configuration changes by cmdlet",
    ),
    row(
        11,
        "ComplianceDLPSharePoint",
        "SharePoint",
        Rule::Dlp,
        "DLP rule matches on SharePoint and OneDrive content",
    ),
    row(
        13,
        "ComplianceDLPExchange",
        "Exchange",
        Rule::Dlp,
        "DLP rule matches on mail (unified DLP policies)",
    ),
    row(
        14,
        "SharePointSharingOperation",
        "SharePoint",
        Rule::Sharing,
        "sharing and access requests on files and folders",
    ),
    row(
        15,
        "AzureActiveDirectoryStsLogon",
        "AzureActiveDirectory",
        Rule::SignIn,
        "Secure Token Service sign-ins, successful or failed (outcome in status_id)",
    ),
    row(
        16,
        "SkypeForBusinessPSTNUsage",
        "SkypeForBusiness",
        Rule::App,
        "telephone usage records of a user of the Skype for Business service",
    ),
    row(
        17,
        "SkypeForBusinessUsersBlocked",
        "SkypeForBusiness",
        Rule::App,
        "users blocked from the Skype for Business service",
    ),
    row(
        18,
        "SecurityComplianceCenterEOPCmdlet",
        "SecurityComplianceCenter",
        Rule::Cmdlet,
        "Security & Compliance admin cmdlets",
    ),
    row(
        19,
        "ExchangeAggregatedOperation",
        "Exchange",
        Rule::Mailbox,
        "aggregated mailbox audit events: mailbox items as web resources",
    ),
    row(
        20,
        "PowerBIAudit",
        "PowerBI",
        Rule::App,
        "Power BI reports, dashboards and datasets viewed, exported or changed",
    ),
    row(
        21,
        "CRM",
        "CRM",
        Rule::App,
        "Dynamics 365 entity and record operations",
    ),
    row(
        22,
        "Yammer",
        "Yammer",
        Rule::App,
        "Yammer (Viva Engage) messages, groups, files and network settings",
    ),
    row(
        23,
        "SkypeForBusinessCmdlets",
        "SkypeForBusiness",
        Rule::Cmdlet,
        "Skype for Business and Teams admin cmdlets",
    ),
    row(
        24,
        "Discovery",
        "SecurityComplianceCenter",
        Rule::App,
        "eDiscovery searches, exports and cases: the verb says search (5) or export (7)",
    ),
    row(
        25,
        "MicrosoftTeams",
        "MicrosoftTeams",
        Rule::Teams,
        "Teams: team lifecycle and membership are group management, the rest web resources",
    ),
    row(
        28,
        "ThreatIntelligence",
        "ThreatIntelligence",
        Rule::EmailScan,
        "phishing and malware verdicts on mail: an email scan with sender and recipients",
    ),
    row(
        29,
        "MailSubmission",
        "ThreatIntelligence",
        Rule::App,
        "mail, URL and file submissions to Microsoft for analysis",
    ),
    row(
        30,
        "MicrosoftFlow",
        "MicrosoftFlow",
        Rule::App,
        "Power Automate flows created, changed, run or deleted",
    ),
    row(
        31,
        "AeD",
        "SecurityComplianceCenter",
        Rule::App,
        "Advanced eDiscovery case and review-set operations",
    ),
    row(
        32,
        "MicrosoftStream",
        "MicrosoftStream",
        Rule::App,
        "Stream videos, channels and groups viewed, uploaded or changed",
    ),
    row(
        33,
        "ComplianceDLPSharePointClassification",
        "SharePoint",
        Rule::Dlp,
        "DLP classification of SharePoint content",
    ),
    row(
        34,
        "ThreatFinder",
        "ThreatIntelligence",
        Rule::App,
        "Threat Explorer and campaign views",
    ),
    row(
        35,
        "Project",
        "Project",
        Rule::App,
        "Microsoft Project resources and projects",
    ),
    row(
        36,
        "SharePointListOperation",
        "SharePoint",
        Rule::App,
        "SharePoint lists: a list is a web resource",
    ),
    row(
        37,
        "SharePointCommentOperation",
        "SharePoint",
        Rule::App,
        "comments on SharePoint pages and files",
    ),
    row(
        38,
        "DataGovernance",
        "SecurityComplianceCenter",
        Rule::App,
        "retention policies and retention labels applied or changed",
    ),
    row(
        39,
        "Kaizala",
        "Kaizala",
        Rule::App,
        "Kaizala groups and messages",
    ),
    row(
        40,
        "SecurityComplianceAlerts",
        "SecurityComplianceCenter",
        Rule::Detection,
        "alert signals of the Security & Compliance Center",
    ),
    row(
        41,
        "ThreatIntelligenceUrl",
        "ThreatIntelligence",
        Rule::App,
        "Safe Links time-of-click blocks and overrides of a URL",
    ),
    row(
        42,
        "SecurityComplianceInsights",
        "SecurityComplianceCenter",
        Rule::App,
        "insights and reports viewed in the compliance center",
    ),
    row(
        43,
        "MIPLabel",
        "Exchange",
        Rule::App,
        "mail tagged with a sensitivity label in transport: no sender field to make an Email Activity",
    ),
    row(
        44,
        "WorkplaceAnalytics",
        "WorkplaceAnalytics",
        Rule::App,
        "Workplace Analytics queries and settings",
    ),
    row(
        45,
        "PowerAppsApp",
        "PowerApps",
        Rule::App,
        "Power Apps apps launched, created or changed",
    ),
    row(
        46,
        "PowerAppsPlan",
        "PowerApps",
        Rule::App,
        "Power Apps subscription plans",
    ),
    row(
        47,
        "ThreatIntelligenceAtpContent",
        "ThreatIntelligence",
        Rule::Detection,
        "malware found in SharePoint, OneDrive and Teams files by Defender for Office 365",
    ),
    row(
        48,
        "LabelContentExplorer",
        "SecurityComplianceCenter",
        Rule::App,
        "content explorer views of labelled items",
    ),
    row(
        49,
        "TeamsHealthcare",
        "MicrosoftTeams",
        Rule::App,
        "the Patients app of Teams for Healthcare",
    ),
    row(
        50,
        "ExchangeItemAggregated",
        "Exchange",
        Rule::Mailbox,
        "MailItemsAccessed: mailbox reads; no address of a message, so Web Resources Read",
    ),
    row(
        51,
        "HygieneEvent",
        "Exchange",
        Rule::App,
        "outbound spam protection events (a user restricted from sending)",
    ),
    row(
        52,
        "DataInsightsRestApiAudit",
        "DataInsights",
        Rule::Api,
        "Data Insights REST API calls: API Activity when caller and address exist",
    ),
    row(
        53,
        "InformationBarrierPolicyApplication",
        "SecurityComplianceCenter",
        Rule::App,
        "information barrier policies applied",
    ),
    row(
        54,
        "SharePointListItemOperation",
        "SharePoint",
        Rule::App,
        "SharePoint list items",
    ),
    row(
        55,
        "SharePointContentTypeOperation",
        "SharePoint",
        Rule::App,
        "SharePoint list content types",
    ),
    row(
        56,
        "SharePointFieldOperation",
        "SharePoint",
        Rule::App,
        "SharePoint list fields",
    ),
    row(
        57,
        "MicrosoftTeamsAdmin",
        "MicrosoftTeams",
        Rule::Settings,
        "Teams admin changes to tenant and team settings: configuration objects",
    ),
    row(
        58,
        "HRSignal",
        "SecurityComplianceCenter",
        Rule::App,
        "HR data signals for insider risk management",
    ),
    row(
        59,
        "MicrosoftTeamsDevice",
        "MicrosoftTeams",
        Rule::App,
        "Teams devices",
    ),
    row(
        60,
        "MicrosoftTeamsAnalytics",
        "MicrosoftTeams",
        Rule::App,
        "Teams analytics",
    ),
    row(
        61,
        "InformationWorkerProtection",
        "SecurityComplianceCenter",
        Rule::Detection,
        "compromised user alerts: a finding about a user",
    ),
    row(
        62,
        "Campaign",
        "ThreatIntelligence",
        Rule::App,
        "email campaigns seen by Defender for Office 365",
    ),
    row(
        63,
        "DLPEndpoint",
        "Endpoint",
        Rule::Dlp,
        "Endpoint DLP rule matches",
    ),
    row(
        64,
        "AirInvestigation",
        "ThreatIntelligence",
        Rule::Detection,
        "automated investigation and response: a finding that is created, updated and closed",
    ),
    row(
        65,
        "Quarantine",
        "Exchange",
        Rule::App,
        "quarantined messages previewed, released or deleted: the message is the web resource",
    ),
    row(
        66,
        "MicrosoftForms",
        "MicrosoftForms",
        Rule::App,
        "Microsoft Forms forms and responses",
    ),
    row(
        67,
        "ApplicationAudit",
        "ApplicationAudit",
        Rule::App,
        "application audit events",
    ),
    row(
        68,
        "ComplianceSupervisionExchange",
        "Exchange",
        Rule::App,
        "communication compliance review of messages",
    ),
    row(
        69,
        "CustomerKeyServiceEncryption",
        "SecurityComplianceCenter",
        Rule::App,
        "Customer Key encryption service",
    ),
    row(
        70,
        "OfficeNative",
        "OfficeNative",
        Rule::App,
        "sensitivity labels applied in Office apps to a document",
    ),
    row(
        71,
        "MipAutoLabelSharePointItem",
        "SharePoint",
        Rule::App,
        "auto-labeling of SharePoint items",
    ),
    row(
        72,
        "MipAutoLabelSharePointPolicyLocation",
        "SharePoint",
        Rule::Settings,
        "auto-labeling policy locations: a policy is a configuration object",
    ),
    row(
        73,
        "MicrosoftTeamsShifts",
        "MicrosoftTeams",
        Rule::App,
        "Teams Shifts schedules",
    ),
    row(
        75,
        "MipAutoLabelExchangeItem",
        "Exchange",
        Rule::App,
        "auto-labeling of mail",
    ),
    row(
        76,
        "CortanaBriefing",
        "Exchange",
        Rule::App,
        "briefing email settings and sends",
    ),
    row(
        77,
        "Search",
        "SecurityComplianceCenter",
        Rule::App,
        "search queries in SharePoint and Exchange: Web Resources Search",
    ),
    row(
        78,
        "WDATPAlerts",
        "SecurityComplianceCenter",
        Rule::Detection,
        "alerts of Defender for Endpoint",
    ),
    row(
        81,
        "MDATPAudit",
        "MicrosoftDefenderForEndpoint",
        Rule::App,
        "Defender for Endpoint portal activity",
    ),
    row(
        82,
        "SensitivityLabelPolicyMatch",
        "SecurityComplianceCenter",
        Rule::App,
        "a labelled file opened or renamed",
    ),
    row(
        83,
        "SensitivityLabelAction",
        "SecurityComplianceCenter",
        Rule::App,
        "sensitivity labels applied, changed or removed on a file",
    ),
    row(
        84,
        "SensitivityLabeledFileAction",
        "SecurityComplianceCenter",
        Rule::App,
        "a labelled file opened or renamed",
    ),
    row(
        85,
        "AttackSim",
        "SecurityComplianceCenter",
        Rule::App,
        "attack simulation campaigns",
    ),
    row(
        86,
        "AirManualInvestigation",
        "ThreatIntelligence",
        Rule::Detection,
        "manual investigations of AIR",
    ),
    row(
        87,
        "SecurityComplianceRBAC",
        "SecurityComplianceCenter",
        Rule::Cmdlet,
        "Security & Compliance role groups changed by cmdlet",
    ),
    row(
        88,
        "UserTraining",
        "SecurityComplianceCenter",
        Rule::App,
        "attack simulation training",
    ),
    row(
        89,
        "AirAdminActionInvestigation",
        "ThreatIntelligence",
        Rule::Detection,
        "admin actions on AIR investigations",
    ),
    row(
        90,
        "MSTIC",
        "ThreatIntelligence",
        Rule::App,
        "threat intelligence of Defender for Office 365",
    ),
    row(
        91,
        "PhysicalBadgingSignal",
        "SecurityComplianceCenter",
        Rule::App,
        "physical badging signals for insider risk management",
    ),
    row(
        93,
        "AipDiscover",
        "Aip",
        Rule::App,
        "AIP scanner discoveries of files",
    ),
    row(
        94,
        "AipSensitivityLabelAction",
        "Aip",
        Rule::App,
        "AIP sensitivity labels on files",
    ),
    row(
        95,
        "AipProtectionAction",
        "Aip",
        Rule::App,
        "AIP protection applied to files",
    ),
    row(96, "AipFileDeleted", "Aip", Rule::App, "AIP file deletions"),
    row(
        97,
        "AipHeartBeat",
        "Aip",
        Rule::App,
        "AIP client heartbeats",
    ),
    row(
        98,
        "MCASAlerts",
        "SecurityComplianceCenter",
        Rule::Detection,
        "alerts of Defender for Cloud Apps",
    ),
    row(
        99,
        "OnPremisesFileShareScannerDlp",
        "SecurityComplianceCenter",
        Rule::Dlp,
        "DLP matches on on-premises file shares",
    ),
    row(
        100,
        "OnPremisesSharePointScannerDlp",
        "SecurityComplianceCenter",
        Rule::Dlp,
        "DLP matches on on-premises SharePoint",
    ),
    row(
        101,
        "ExchangeSearch",
        "Exchange",
        Rule::App,
        "Outlook on the web mailbox searches: Web Resources Search",
    ),
    row(
        102,
        "SharePointSearch",
        "SharePoint",
        Rule::App,
        "SharePoint home site searches: Web Resources Search",
    ),
    row(
        103,
        "PrivacyInsights",
        "PrivacyInsights",
        Rule::App,
        "privacy insights",
    ),
    row(
        105,
        "MyAnalyticsSettings",
        "MyAnalytics",
        Rule::Settings,
        "MyAnalytics settings: a configuration object",
    ),
    row(
        106,
        "SecurityComplianceUserChange",
        "SecurityComplianceCenter",
        Rule::Settings,
        "users modified or deleted in the compliance center, named by ObjectId only",
    ),
    row(
        107,
        "ComplianceDLPExchangeClassification",
        "Exchange",
        Rule::Dlp,
        "DLP classification of mail",
    ),
    row(
        109,
        "MipExactDataMatch",
        "SecurityComplianceCenter",
        Rule::App,
        "exact data match classification uploads",
    ),
    row(
        113,
        "MS365DCustomDetection",
        "SecurityComplianceCenter",
        Rule::Detection,
        "custom detection rules of Microsoft 365 Defender",
    ),
    row(
        131,
        "OfficeScriptsRunAction",
        "OfficeScripts",
        Rule::App,
        "Office Scripts runs",
    ),
    row(
        147,
        "CoreReportingSettings",
        "SecurityComplianceCenter",
        Rule::Settings,
        "report settings: a configuration object",
    ),
    row(
        148,
        "ComplianceConnector",
        "SecurityComplianceCenter",
        Rule::App,
        "non-Microsoft data imported by data connectors",
    ),
    row(
        154,
        "OMEPortal",
        "Exchange",
        Rule::App,
        "encrypted messages read in the OME portal by external recipients",
    ),
    row(
        174,
        "DataShareOperation",
        "SystemSync",
        Rule::App,
        "sharing of data ingested by SystemSync",
    ),
    row(
        181,
        "EduDataLakeDownloadOperation",
        "SystemSync",
        Rule::App,
        "exports of SystemSync data from the lake",
    ),
    row(
        183,
        "MicrosoftGraphDataConnectOperation",
        "MicrosoftGraphDataConnect",
        Rule::Api,
        "Graph Data Connect extractions: API Activity when caller and address exist",
    ),
    row(
        186,
        "PowerPagesSite",
        "PowerPages",
        Rule::App,
        "Power Pages sites",
    ),
    row(188, "PlannerPlan", "Planner", Rule::App, "Planner plans"),
    row(
        189,
        "PlannerCopyPlan",
        "Planner",
        Rule::App,
        "Planner plan copies",
    ),
    row(190, "PlannerTask", "Planner", Rule::App, "Planner tasks"),
    row(
        191,
        "PlannerRoster",
        "Planner",
        Rule::App,
        "Planner rosters and their members",
    ),
    row(
        192,
        "PlannerPlanList",
        "Planner",
        Rule::App,
        "Planner plan lists",
    ),
    row(
        193,
        "PlannerTaskList",
        "Planner",
        Rule::App,
        "Planner task lists",
    ),
    row(
        194,
        "PlannerTenantSettings",
        "Planner",
        Rule::Settings,
        "Planner tenant settings: a configuration object",
    ),
    row(
        195,
        "ProjectForTheWebProject",
        "Project",
        Rule::App,
        "Project for the web projects",
    ),
    row(
        196,
        "ProjectForTheWebTask",
        "Project",
        Rule::App,
        "Project for the web tasks",
    ),
    row(
        197,
        "ProjectForTheWebRoadmap",
        "Project",
        Rule::App,
        "Project for the web roadmaps",
    ),
    row(
        198,
        "ProjectForTheWebRoadmapItem",
        "Project",
        Rule::App,
        "Project for the web roadmap items",
    ),
    row(
        199,
        "ProjectForTheWebProjectSettings",
        "Project",
        Rule::Settings,
        "Project for the web tenant settings: a configuration object",
    ),
    row(
        200,
        "ProjectForTheWebRoadmapSettings",
        "Project",
        Rule::Settings,
        "roadmap tenant settings: a configuration object",
    ),
    row(
        216,
        "VivaGoals",
        "VivaGoals",
        Rule::App,
        "Viva Goals goals and check-ins (Microsoft spells the name `Viva Goals`)",
    ),
    row(
        217,
        "MicrosoftGraphDataConnectConsent",
        "MicrosoftGraphDataConnect",
        Rule::Settings,
        "admin consent to Graph Data Connect apps: a grant on an application, as Consent to application",
    ),
    row(
        230,
        "TeamsUpdates",
        "MicrosoftTeams",
        Rule::App,
        "the Teams Updates app",
    ),
    row(
        231,
        "PlannerRosterSensitivityLabel",
        "Planner",
        Rule::App,
        "sensitivity labels on Planner rosters",
    ),
    row(
        261,
        "CopilotInteraction",
        "Copilot",
        Rule::Copilot,
        "Copilot prompts and responses: an API call of the AI service",
    ),
];

/// The row of a RecordType value.
pub fn record_type(value: i64) -> Option<&'static RecordType> {
    RECORD_TYPES
        .binary_search_by_key(&value, |r| r.value)
        .ok()
        .map(|i| &RECORD_TYPES[i])
}

/// The content type the Management API files a record under, from its `RecordType` and `Workload` (records
/// read elsewhere, e.g. from Purview Audit Search, are routed with it). DLP policy matches and classifications
/// (`ComplianceDLP…` record types) are `DLP.All`; the rest go by workload: Entra ID, Exchange, SharePoint and
/// OneDrive have their own; every other workload, and a record naming none, is `Audit.General`.
pub fn content_type_of(value: Option<i64>, workload: Option<&str>) -> ContentType {
    let rt = value.and_then(record_type);
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

/// What a record must name for an override to apply; otherwise its record type's rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing beyond the operation.
    Nothing,
    /// A user (`UserId` or `UserKey`): Authentication's `user`.
    User,
    /// `ObjectId`: the target user of a directory change.
    Object,
    /// The user granted to or revoked from (a cmdlet's `User`/`Member`/`Trustee` parameter, or `ObjectId`).
    Target,
    /// Teams' `TeamName`: the group of Group Management.
    Team,
}

impl Need {
    /// The requirement as the reference names it.
    pub const fn describe(self) -> &'static str {
        match self {
            Need::Nothing => "",
            Need::User => "a user",
            Need::Object => "`ObjectId`",
            Need::Target => "a target user (parameter or `ObjectId`)",
            Need::Team => "`TeamName`",
        }
    }
}

/// An operation that chooses its class whatever its record type's family says (within `record_types`, or any when
/// empty).
#[derive(Debug, Clone, Copy)]
pub struct Override {
    /// The operation, compared without case and without a trailing full stop.
    pub operation: &'static str,
    /// The record types it applies to; empty: any.
    pub record_types: &'static [i64],
    /// The class uid.
    pub class_uid: u32,
    /// The activity id.
    pub activity_id: u32,
    /// What the record must name, else the family rule decides.
    pub need: Need,
    /// Why.
    pub reason: &'static str,
}

const fn op(
    operation: &'static str,
    record_types: &'static [i64],
    class_uid: u32,
    activity_id: u32,
    need: Need,
    reason: &'static str,
) -> Override {
    Override {
        operation,
        record_types,
        class_uid,
        activity_id,
        need,
        reason,
    }
}

const MAILBOX: &[i64] = &[2, 3, 19, 50];
const CMDLETS: &[i64] = &[1, 10, 18, 23, 87];
const GRANT: &str =
    "a right on a mailbox granted to a user: the privilege escalation SOC queries look for";
const REVOKE: &str = "a right on a mailbox revoked from a user";
const FOLDER_GRANT: &str =
    "a folder permission of a mailbox granted or changed for a user (delegate access to mail)";

/// The operations that override their family, the ones SOC queries look for first.
pub const OVERRIDES: &[Override] = &[
    op(
        "MailboxLogin",
        MAILBOX,
        3002,
        1,
        Need::User,
        "a mailbox sign-in is a logon of the mailbox user",
    ),
    op(
        "Add-MailboxPermission",
        CMDLETS,
        3005,
        1,
        Need::Target,
        GRANT,
    ),
    op(
        "Add-RecipientPermission",
        CMDLETS,
        3005,
        1,
        Need::Target,
        "Send As granted to a user: a privilege",
    ),
    op(
        "Add-RoleGroupMember",
        CMDLETS,
        3005,
        1,
        Need::Target,
        "a user added to an admin role group: a privilege",
    ),
    op(
        "Add-MailboxFolderPermission",
        CMDLETS,
        3005,
        1,
        Need::Target,
        FOLDER_GRANT,
    ),
    op(
        "Set-MailboxFolderPermission",
        CMDLETS,
        3005,
        1,
        Need::Target,
        FOLDER_GRANT,
    ),
    op(
        "Remove-MailboxPermission",
        CMDLETS,
        3005,
        2,
        Need::Target,
        REVOKE,
    ),
    op(
        "Remove-RecipientPermission",
        CMDLETS,
        3005,
        2,
        Need::Target,
        "Send As revoked from a user",
    ),
    op(
        "Remove-RoleGroupMember",
        CMDLETS,
        3005,
        2,
        Need::Target,
        "a user removed from an admin role group",
    ),
    op(
        "Remove-MailboxFolderPermission",
        CMDLETS,
        3005,
        2,
        Need::Target,
        REVOKE,
    ),
    op(
        "AddFolderPermissions",
        MAILBOX,
        3005,
        1,
        Need::Target,
        FOLDER_GRANT,
    ),
    op(
        "ModifyFolderPermissions",
        MAILBOX,
        3005,
        1,
        Need::Target,
        FOLDER_GRANT,
    ),
    op(
        "RemoveFolderPermissions",
        MAILBOX,
        3005,
        2,
        Need::Target,
        REVOKE,
    ),
    op(
        "Add member to role",
        &[8],
        3005,
        1,
        Need::Object,
        "a directory role assigned to the user in ObjectId; `privileges` is the role",
    ),
    op(
        "Add eligible member to role",
        &[8],
        3005,
        1,
        Need::Object,
        "a PIM-eligible directory role assigned",
    ),
    op(
        "Remove member from role",
        &[8],
        3005,
        2,
        Need::Object,
        "a directory role revoked",
    ),
    op(
        "Remove eligible member from role",
        &[8],
        3005,
        2,
        Need::Object,
        "a PIM-eligible directory role revoked",
    ),
    op(
        "Send",
        MAILBOX,
        4009,
        1,
        Need::Nothing,
        "a message sent: Email Activity Send (needs a sender address, else the mailbox rule)",
    ),
    op(
        "SendAs",
        MAILBOX,
        4009,
        1,
        Need::Nothing,
        "a message sent as another mailbox (the address is SendAsUserSmtp)",
    ),
    op(
        "SendOnBehalf",
        MAILBOX,
        4009,
        1,
        Need::Nothing,
        "a message sent on behalf of another mailbox (SendOnBehalfOfUserSmtp)",
    ),
    op(
        "New-InboxRule",
        CMDLETS,
        3004,
        1,
        Need::Nothing,
        "an inbox rule is a configuration object of the mailbox, created; no class models mail rules, and Entity \
         Management keeps the rule's name and the cmdlet",
    ),
    op(
        "Set-InboxRule",
        CMDLETS,
        3004,
        3,
        Need::Nothing,
        "an inbox rule changed",
    ),
    op(
        "UpdateInboxRules",
        MAILBOX,
        3004,
        3,
        Need::Nothing,
        "inbox rules changed from Outlook: the mailbox's rule set is updated, not a mailbox item read",
    ),
    op(
        "Set-Mailbox",
        CMDLETS,
        3004,
        3,
        Need::Nothing,
        "mailbox settings (forwarding: ForwardingSmtpAddress, DeliverToMailboxAndForward) changed",
    ),
    op(
        "Consent to application",
        &[8],
        3004,
        99,
        Need::Nothing,
        "a permission grant to an application: User Access Management needs a user as target, an application is \
         none; Entity Management keeps the application and the operation as activity_name",
    ),
    op(
        "Add service principal credentials",
        &[8],
        3004,
        3,
        Need::Nothing,
        "a secret or certificate added to a service principal: an update of the service principal (no user, so not \
         Account Change)",
    ),
    op(
        "Remove service principal credentials",
        &[8],
        3004,
        3,
        Need::Nothing,
        "a secret or certificate removed from a service principal: an update of the service principal",
    ),
    op(
        "TeamCreated",
        &[25],
        3006,
        6,
        Need::Team,
        "a team is a group, created",
    ),
    op("TeamDeleted", &[25], 3006, 5, Need::Team, "a team deleted"),
    op(
        "MemberAdded",
        &[25],
        3006,
        3,
        Need::Team,
        "a user added to a team",
    ),
    op(
        "MemberRemoved",
        &[25],
        3006,
        4,
        Need::Team,
        "a user removed from a team",
    ),
];

/// The override for an operation of a record type, if any (regardless of what the record names).
pub fn override_for(record_type: Option<i64>, operation: &str) -> Option<&'static Override> {
    let o = operation.trim().trim_end_matches('.').trim_end();
    OVERRIDES.iter().find(|x| {
        x.operation.eq_ignore_ascii_case(o)
            && (x.record_types.is_empty()
                || record_type.is_some_and(|rt| x.record_types.contains(&rt)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_routed_by_dlp_record_type_then_workload() {
        use crate::content_type::ContentType as C;
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
            assert_eq!(content_type_of(rt, workload), want, "{rt:?} {workload:?}");
        }
    }

    use crate::normalize::Class;

    #[test]
    fn the_table_is_sorted_unique_and_every_rule_is_documented() {
        assert!(RECORD_TYPES.windows(2).all(|w| w[0].value < w[1].value));
        assert_eq!(
            record_type(50).map(|r| r.name),
            Some("ExchangeItemAggregated")
        );
        assert!(record_type(9999).is_none());
        for r in Rule::ALL {
            assert!(
                !r.activity_rule().is_empty() && !r.classes().is_empty(),
                "{r:?}"
            );
        }
        for x in OVERRIDES {
            let class = Class::from_uid(x.class_uid).expect("override class is known");
            assert!(
                x.activity_id == 99 || class.activity_caption(x.activity_id).is_some(),
                "{}",
                x.operation
            );
            assert!(!x.operation.ends_with('.'), "{}", x.operation);
        }
        assert_eq!(
            override_for(Some(8), "Add member to role.").map(|x| x.class_uid),
            Some(3005)
        );
        assert!(override_for(Some(22), "Send").is_none());
    }
}

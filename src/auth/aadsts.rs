//! What each AADSTS error code of the reference table means for an operator, and what to do about it.

use std::fmt;

/// An Entra ID `AADSTS` error code, as found in the token endpoint's `error_codes` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AadstsCode(pub u32);

/// Facts about the request that make the advice concrete.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdviceContext<'a> {
    pub cloud: &'a str,
    pub tenant: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub sha1: &'a str,
}

impl AadstsCode {
    /// Every code with a specific message: the reference table of entra-certificate-auth.md, plus 700025 (public
    /// client) and 7000112 (application disabled).
    pub const KNOWN: [u32; 23] = [
        700027, 700024, 50012, 50013, 500133, 50027, 50048, 50032, 700016, 90002, 90038, 900382,
        900432, 70011, 700022, 700023, 500011, 7000215, 7000222, 50196, 90055, 700025, 7000112,
    ];

    /// Whether the code has a specific message.
    pub fn is_known(self) -> bool {
        Self::KNOWN.contains(&self.0)
    }

    /// What the code means and what to do, worded for the operator.
    pub(crate) fn advice(self, cx: &AdviceContext<'_>) -> String {
        let AdviceContext {
            cloud,
            tenant,
            client_id,
            scope,
            sha1,
        } = *cx;
        match self.0 {
            700027 => format!(
                "the certificate (SHA-1 thumbprint {sha1}) is not registered on app {client_id} in the {cloud} cloud: upload it under Certificates & secrets of the app registration in the tenant's own cloud, and compare the thumbprint with the portal"
            ),
            700024 => "the client assertion is outside its validity time range: the local clock is off; synchronise it (NTP) and retry".to_owned(),
            50012 => "Entra ID could not validate the client assertion: check that the certificate registered on the app is this one and that the local clock is correct".to_owned(),
            50013 => "the client assertion failed signature validation or has expired: check the local clock and that the registered certificate matches the private key".to_owned(),
            500133 => "the client assertion is not within its valid time range: the local clock is off; synchronise it (NTP) and retry".to_owned(),
            50027 => format!(
                "the client assertion is malformed (wrong audience or missing thumbprint): check that `endpoints.login` is not rewriting the token URL and that cloud `{cloud}` is the tenant's cloud"
            ),
            50048 => format!(
                "the assertion's subject differs from its issuer: client_id {client_id} must be the application (client) ID of the app registration"
            ),
            50032 => "the certificate's RSA key is too short: create a certificate with a 2048-bit or larger key and register it on the app".to_owned(),
            700016 => format!(
                "application {client_id} was not found in tenant {tenant}: check `tenant.client_id` and `tenant.id`, that an administrator granted consent in this tenant, and that `cloud: {cloud}` is the tenant's cloud"
            ),
            90002 => format!(
                "tenant {tenant} was not found in the {cloud} cloud: check `tenant.id` (a GUID or verified domain) and `tenant.cloud`"
            ),
            90038 => format!(
                "tenant {tenant} belongs to another national cloud than {cloud}: set `tenant.cloud` to the tenant's cloud (gcc-high and dod sign in at login.microsoftonline.us)"
            ),
            900382 => format!(
                "app {client_id} belongs to another national cloud than {cloud} (cross-cloud confidential client): set `tenant.cloud` to the cloud where the app is registered"
            ),
            900432 => format!(
                "cross-cloud requests are not supported for confidential clients: app {client_id} and tenant {tenant} must both be in the {cloud} cloud; fix `tenant.cloud`"
            ),
            70011 => format!(
                "the requested scope is invalid: it must be exactly {scope}; check `tenant.cloud`"
            ),
            700022 => format!(
                "the requested scope is invalid or mixes resources: it must be exactly {scope}; check `tenant.cloud`"
            ),
            700023 => format!(
                "the scope is not valid for the client credentials flow: it must be exactly {scope}; check `tenant.cloud`"
            ),
            500011 => format!(
                "the resource in {scope} is not present in tenant {tenant}: the Office 365 Management APIs service principal is missing or the cloud is wrong; check `tenant.cloud` and grant the app ActivityFeed.Read with admin consent"
            ),
            7000215 => "Entra ID reports an invalid client secret, but o365sync sends none: the app registration expects a certificate; upload the certificate to it".to_owned(),
            7000222 => "Entra ID reports an expired client secret, but o365sync sends none: the app registration expects a certificate; upload the certificate to it".to_owned(),
            50196 => "Entra ID saw too many identical token requests: tokens are cached per run; do not start overlapping runs in a tight loop, then retry later".to_owned(),
            90055 => "the tenant is being throttled by Entra ID: retry later and reduce how often runs start".to_owned(),
            700025 => "the app registration is a public client and cannot use a certificate: make it a confidential (web) application".to_owned(),
            7000112 => format!("application {client_id} is disabled in tenant {tenant}: ask an administrator to enable it"),
            other => format!(
                "see https://login.microsoftonline.com/error?code={other} for AADSTS{other}"
            ),
        }
    }
}

impl fmt::Display for AadstsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AADSTS{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> AdviceContext<'static> {
        AdviceContext {
            cloud: "gcc",
            tenant: "t",
            client_id: "c",
            scope: "https://manage-gcc.office.com/.default",
            sha1: "AB",
        }
    }

    #[test]
    fn every_known_code_has_its_own_message() {
        let mut seen = std::collections::HashSet::new();
        for code in AadstsCode::KNOWN {
            let msg = AadstsCode(code).advice(&cx());
            assert!(
                !msg.contains("see https://"),
                "{code} has no specific message"
            );
            assert!(
                msg.contains(": "),
                "{code}: message must say what to do: {msg}"
            );
            assert!(seen.insert(msg), "{code} shares its message");
        }
        assert!(!AadstsCode(1).is_known());
        assert!(AadstsCode(1).advice(&cx()).contains("AADSTS1"));
    }
}

//! URLs of the Management Activity API: the root, the operations, `PublisherIdentifier` on every request, and host
//! pinning (a next-page or content URI on another scheme, host or port is refused before any token is sent).

use url::Url;

use crate::api::window::Window;
use crate::content_type::ContentType;

/// The query parameter every request carries.
pub const PUBLISHER_PARAM: &str = "PublisherIdentifier";

/// A URI the client refuses to call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not a URL at all.
    #[error(
        "the service returned an unparseable URI `{uri}`: the window stays incomplete; retry the run later"
    )]
    Unparseable {
        /// The URI as received (query removed).
        uri: String,
    },
    /// A URI on another origin: following it would hand the bearer token to someone else.
    #[error(
        "refusing to follow `{uri}`: it is on {found}, not on the API origin {expected}, and would receive the bearer \
         token; the window stays incomplete (check endpoints.api or report the response to Microsoft)"
    )]
    ForeignOrigin {
        /// The URI as received (query removed).
        uri: String,
        /// Its origin.
        found: String,
        /// The API root's origin.
        expected: String,
    },
}

/// An invalid API base URL or tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    /// The base URL cannot carry a path or is not http(s).
    #[error(
        "the API endpoint `{0}` must be an http:// or https:// URL such as https://manage.office.com"
    )]
    BadBase(String),
    /// Empty or unsafe tenant.
    #[error("tenant id `{0}` is not usable in a URL: use the directory (tenant) GUID")]
    BadTenant(String),
}

/// The API root `{api}/api/v1.0/{tenant}/activity/feed` and the identity every request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoot {
    root: Url,
    publisher: String,
}

impl ApiRoot {
    /// Builds the root from an API base such as `https://manage-gcc.office.com` (host only; any path is replaced),
    /// a tenant ID, and the publisher identifier (the job's `publisher_id`, by default the tenant ID).
    pub fn new(api_base: &Url, tenant: &str, publisher: &str) -> Result<ApiRoot, RootError> {
        if !matches!(api_base.scheme(), "http" | "https")
            || api_base.cannot_be_a_base()
            || api_base.host().is_none()
        {
            return Err(RootError::BadBase(api_base.to_string()));
        }
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(RootError::BadTenant(tenant.to_owned()));
        }
        let mut root = api_base.clone();
        root.set_query(None);
        root.set_fragment(None);
        root.set_path(&format!("/api/v1.0/{tenant}/activity/feed"));
        ApiRoot::from_root_url(root, publisher)
    }

    /// Uses a complete root URL as given (for example the auth module's `{api}/api/v1.0/{tenant}/activity/feed`).
    pub fn from_root_url(root: Url, publisher: &str) -> Result<ApiRoot, RootError> {
        if !matches!(root.scheme(), "http" | "https")
            || root.cannot_be_a_base()
            || root.host().is_none()
        {
            return Err(RootError::BadBase(root.to_string()));
        }
        let mut root = root;
        let trimmed = root.path().trim_end_matches('/').to_owned();
        root.set_path(&trimmed);
        Ok(ApiRoot {
            root,
            publisher: publisher.to_owned(),
        })
    }

    /// The root URL.
    pub fn url(&self) -> &Url {
        &self.root
    }

    /// The publisher identifier sent with every request.
    pub fn publisher(&self) -> &str {
        &self.publisher
    }

    fn operation(&self, tail: &str) -> Url {
        let mut u = self.root.clone();
        u.set_path(&format!("{}/{tail}", self.root.path()));
        u
    }

    /// `GET {root}/subscriptions/list?PublisherIdentifier=G`
    pub fn list_subscriptions(&self) -> Url {
        let mut u = self.operation("subscriptions/list");
        u.query_pairs_mut()
            .append_pair(PUBLISHER_PARAM, &self.publisher);
        u
    }

    /// `POST {root}/subscriptions/start?contentType=CT&PublisherIdentifier=G`
    pub fn start_subscription(&self, ct: ContentType) -> Url {
        let mut u = self.operation("subscriptions/start");
        u.query_pairs_mut()
            .append_pair("contentType", ct.as_str())
            .append_pair(PUBLISHER_PARAM, &self.publisher);
        u
    }

    /// `GET {root}/subscriptions/content?contentType=CT&startTime=T0&endTime=T1&PublisherIdentifier=G`
    pub fn list_content(&self, ct: ContentType, window: &Window) -> Url {
        let mut u = self.operation("subscriptions/content");
        u.query_pairs_mut()
            .append_pair("contentType", ct.as_str())
            .append_pair("startTime", &window.start_param())
            .append_pair("endTime", &window.end_param())
            .append_pair(PUBLISHER_PARAM, &self.publisher);
        u
    }

    /// Checks a URI handed out by the service (`NextPageUri`, `contentUri`): it must be on the root's scheme, host
    /// and port. Returns it with `PublisherIdentifier` appended when absent; the rest of the URI is used as given.
    pub fn pin(&self, uri: &str) -> Result<Url, UriError> {
        let parsed = Url::options()
            .base_url(Some(&self.root))
            .parse(uri.trim())
            .map_err(|_| UriError::Unparseable {
                uri: without_query(uri),
            })?;
        if !same_origin(&parsed, &self.root) {
            return Err(UriError::ForeignOrigin {
                uri: without_query(parsed.as_str()),
                found: origin(&parsed),
                expected: origin(&self.root),
            });
        }
        Ok(with_publisher(parsed, &self.publisher))
    }
}

/// Whether two URLs share scheme, host and port (the default port of the scheme counts as given).
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme().eq_ignore_ascii_case(b.scheme())
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn origin(u: &Url) -> String {
    match (u.host_str(), u.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
        (Some(h), None) => format!("{}://{h}", u.scheme()),
        _ => u.scheme().to_owned(),
    }
}

/// A URI for messages: the query may carry tokens or signatures, so it is dropped.
fn without_query(uri: &str) -> String {
    uri.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// Appends `PublisherIdentifier=G` unless a parameter of that name (any case) is already present.
pub fn with_publisher(mut url: Url, publisher: &str) -> Url {
    let named = |k: &str| k.eq_ignore_ascii_case(PUBLISHER_PARAM);
    if url.query_pairs().any(|(k, v)| named(&k) && !v.is_empty()) {
        return url;
    }
    if url.query_pairs().any(|(k, _)| named(&k)) {
        // An empty `PublisherIdentifier` would charge the calls to the tenant's shared quota: replace it. (The query
        // is re-encoded only in this case; a URI that names a publisher is used exactly as given.)
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !named(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url.query_pairs_mut()
        .append_pair(PUBLISHER_PARAM, publisher);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";

    fn root() -> ApiRoot {
        ApiRoot::new(
            &Url::parse("https://manage-gcc.office.com").unwrap(),
            TENANT,
            TENANT,
        )
        .unwrap()
    }

    #[test]
    fn operations_carry_publisher_identifier() {
        let r = root();
        assert_eq!(
            r.list_subscriptions().as_str(),
            format!(
                "https://manage-gcc.office.com/api/v1.0/{TENANT}/activity/feed/subscriptions/list?PublisherIdentifier={TENANT}"
            )
        );
        assert_eq!(
            r.start_subscription(ContentType::DlpAll).as_str(),
            format!(
                "https://manage-gcc.office.com/api/v1.0/{TENANT}/activity/feed/subscriptions/start?contentType=DLP.All&PublisherIdentifier={TENANT}"
            )
        );
        let w = Window::new(
            "2026-11-20T00:00:00Z".parse().unwrap(),
            "2026-11-20T01:00:00Z".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(
            r.list_content(ContentType::Exchange, &w).query(),
            Some(
                format!(
                    "contentType=Audit.Exchange&startTime=2026-11-20T00%3A00%3A00&endTime=2026-11-20T01%3A00%3A00&PublisherIdentifier={TENANT}"
                )
                .as_str()
            )
        );
    }

    #[test]
    fn base_with_path_and_port_is_respected() {
        let r = ApiRoot::new(
            &Url::parse("http://127.0.0.1:8400/ignored/").unwrap(),
            TENANT,
            "p",
        )
        .unwrap();
        assert_eq!(
            r.url().as_str(),
            format!("http://127.0.0.1:8400/api/v1.0/{TENANT}/activity/feed")
        );
        assert!(ApiRoot::new(&Url::parse("ftp://x").unwrap(), TENANT, "p").is_err());
        assert!(ApiRoot::new(&Url::parse("https://x").unwrap(), "a/b", "p").is_err());
        let r = ApiRoot::from_root_url(
            Url::parse("http://127.0.0.1:9/api/v1.0/t/activity/feed/").unwrap(),
            "p",
        )
        .unwrap();
        assert_eq!(
            r.list_subscriptions().as_str(),
            "http://127.0.0.1:9/api/v1.0/t/activity/feed/subscriptions/list?PublisherIdentifier=p"
        );
    }

    #[test]
    fn pin_appends_publisher_only_when_missing() {
        let r = root();
        let u = r
            .pin("https://manage-gcc.office.com/api/v1/x/activity/feed/audit/abc$def$ghi")
            .unwrap();
        assert_eq!(
            u.query(),
            Some(format!("PublisherIdentifier={TENANT}").as_str())
        );
        assert!(u.path().ends_with("abc$def$ghi"), "{u}");
        let u = r
            .pin(
                "https://MANAGE-GCC.office.com:443/api/v1.0/x?nextPage=2&publisheridentifier=other",
            )
            .unwrap();
        assert_eq!(u.query(), Some("nextPage=2&publisheridentifier=other"));
    }

    /// Fuzzing finding (`fuzz/` target `listing`): an empty `PublisherIdentifier` in a next-page URI was kept, so
    /// the calls went out without the publisher's quota.
    #[test]
    fn pin_replaces_an_empty_publisher_identifier() {
        let r = root();
        for uri in [
            "https://manage-gcc.office.com/api/v1.0/x?b=c&publisheridentifier=",
            "https://manage-gcc.office.com/api/v1.0/x?b=c&PublisherIdentifier",
        ] {
            let u = r.pin(uri).unwrap();
            assert_eq!(
                u.query(),
                Some(format!("b=c&PublisherIdentifier={TENANT}").as_str()),
                "{uri}"
            );
        }
    }

    #[test]
    fn pin_refuses_other_scheme_host_or_port() {
        let r = root();
        for uri in [
            "http://manage-gcc.office.com/api/v1.0/x",
            "https://evil.example/api/v1.0/x?token=1",
            "https://manage-gcc.office.com:8443/api/v1.0/x",
            "https://manage-gcc.office.com.evil.example/x",
            "//evil.example/x",
        ] {
            let err = r.pin(uri).unwrap_err();
            assert!(
                matches!(err, UriError::ForeignOrigin { .. }),
                "{uri}: {err}"
            );
            assert!(!err.to_string().contains("token=1"));
        }
        // a relative URI resolves against the root and stays on its origin
        assert!(r.pin("subscriptions/content?nextPage=3").is_ok());
    }
}

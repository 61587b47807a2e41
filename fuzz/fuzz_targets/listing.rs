//! A content listing page and its `NextPageUri`: the body is read leniently into blobs (never a panic), and a
//! next-page or content URI is only ever followed on the API's own origin, with the publisher identifier added.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365sync::api::ContentBlob;
use o365sync::api::urls::{ApiRoot, same_origin};

fuzz_target!(|data: &[u8]| {
    if let Ok(blobs) = serde_json::from_slice::<Vec<ContentBlob>>(data) {
        for blob in &blobs {
            // reading the times the executor reads, never a panic
            let _ = blob.is_expired(jiff::Timestamp::UNIX_EPOCH);
        }
    }
    let root = url::Url::parse("https://manage.office.com/").expect("root");
    let root =
        ApiRoot::new(&root, "0b8e0ba6-4f4c-4f2a-9a8c-2f5a0c6f0d11", "pub-1").expect("api root");
    let text = String::from_utf8_lossy(data);
    if let Ok(pinned) = root.pin(&text) {
        assert!(
            same_origin(&pinned, root.url()),
            "followed a foreign origin: {pinned}"
        );
        assert!(
            pinned
                .query_pairs()
                .any(|(k, v)| k.eq_ignore_ascii_case("PublisherIdentifier") && !v.is_empty()),
            "no publisher identifier: {pinned}"
        );
    }
});

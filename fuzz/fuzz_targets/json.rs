//! The JSON answers of discovery, login and SSO: any bytes through the functions that interpret
//! them for the client ([`parse_discovery`], [`parse_login`], [`parse_sso`]).

#![no_main]

use botevents::fetch::{ResponseError, check_secure, parse_discovery, parse_login, parse_sso};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // JSON or not: then no parser may call it "not JSON", and otherwise all must.
    let is_json = serde_json::from_slice::<serde_json::Value>(data).is_ok();
    match parse_discovery(data) {
        Ok(url) => {
            assert!(url.as_str().ends_with('/'), "login base without a trailing slash: {url}");
            assert!(!url.cannot_be_a_base(), "login base that cannot take a path: {url}");
            assert!(check_secure(&url).is_ok(), "insecure login base accepted: {url}");
        }
        Err(e) => check_error(&e, is_json),
    }
    match parse_login(data) {
        Ok(bearer) => assert!(!bearer.is_empty(), "empty bearer accepted"),
        Err(e) => check_error(&e, is_json),
    }
    match parse_sso(data) {
        Ok(session) => assert!(!session.access_token.is_empty(), "empty apiAccessToken accepted"),
        Err(e) => check_error(&e, is_json),
    }
});

fn check_error(e: &ResponseError, is_json: bool) {
    assert_eq!(matches!(e, ResponseError::NotJson { .. }), !is_json, "{e}");
    assert!(!e.to_string().is_empty());
}

//! A page URL through URL scrubbing and route templating (with rules of every form), and a
//! referrer through origin extraction: no query string survives, routes stay within their cap.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rum_fuzz::route_scrub(data));

//! A gzip request body through the collector's capped inflate: never more than the cap.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rum_fuzz::gzip_body(data));

//! A beacon body (BEACON.md JSON) through the collector's decoder; what decodes must encode to
//! bytes prost reads back as the same message.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rum_fuzz::beacon_decode(data));

//! Forwarding headers (X-Forwarded-For, Forwarded, a CDN's one-address header) through the
//! client-IP resolver behind a trusted proxy: any header bytes give an address, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rum_fuzz::client_ip(data));

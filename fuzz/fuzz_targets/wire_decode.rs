//! A Kafka message through stage 1's hand-written projection decoder (what a foreign producer on
//! the beacon topic can send): it decodes or refuses, and what it decodes stage 1 can ingest.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rum_fuzz::wire_decode(data));

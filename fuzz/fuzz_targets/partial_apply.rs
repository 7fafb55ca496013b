//! A partial batch from the partials topic through stage 2 (what a foreign or broken producer
//! can send): decoded partials are merged, the state exported and imported again.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rum_fuzz::partial_apply(data));

//! Protobuf types generated from `proto/rum/v1/*.proto` at build time (see `build.rs`).

#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/rum.v1.rs"));

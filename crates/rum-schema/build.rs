//! Generates the protobuf types from `proto/` with protox (a Rust protobuf compiler), so a fresh
//! machine needs nothing but cargo: no protoc on the PATH.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let beacon_proto = proto_root.join("rum/v1/beacon.proto");
    println!("cargo:rerun-if-changed={}", beacon_proto.display());
    let descriptors = protox::compile([&beacon_proto], [&proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}

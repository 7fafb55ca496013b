//! Generates the protobuf types from `proto/` with protox (a Rust protobuf compiler), so a fresh
//! machine needs nothing but cargo: no protoc on the PATH.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: two checkouts of the workspace
    // sharing one target directory share this script's binary (cargo hashes workspace members
    // by their path relative to the workspace), and each must read its own protos.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let proto_root = std::path::Path::new(&manifest_dir).join("../../proto");
    let files = [
        "rum/v1/beacon.proto",
        "rum/v1/partial.proto",
        "rum/v1/state.proto",
    ]
    .map(|file| proto_root.join(file));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}

//! Compiles the gRPC fixture's proto with `protox` (no `protoc` needed) and
//! writes its descriptor set, which the fixture's reflection serves and the
//! tests upload to register a server that has no reflection.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = "fixture/v1/greeter.proto";
    println!("cargo:rerun-if-changed=proto/{file}");
    let fds = protox::compile([file], ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("fixture_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .compile_fds(fds)?;
    Ok(())
}

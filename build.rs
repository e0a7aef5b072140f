fn main() {
    napi_build::setup();
    // A macOS dylib records its install name (LC_ID_DYLIB), which by default is
    // the path it was linked at: the build machine's directory. An addon is
    // loaded by path, so the name is unused; make it neutral instead.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
            Ok("aarch64") => "arm64",
            _ => "x64",
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/segment.darwin-{arch}.node");
    }
}

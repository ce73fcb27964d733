//! Link settings of the `blackwatch` binary that Cargo's profile cannot express.
//!
//! Release builds on glibc Linux pack the binary's relative relocations (`-z
//! pack-relative-relocs`, DT_RELR): the 66,000 `R_X86_64_RELATIVE` entries of a
//! position-independent Rust binary take 1.6 MB as `.rela.dyn`, which every start reads
//! in full, and 25 KB packed. It needs glibc 2.36 at run time, as any binary linked
//! against glibc 2.36 does; GNU ld and lld both accept it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BLACKWATCH_PLAIN_RELOCS");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let glibc_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    // `BLACKWATCH_PLAIN_RELOCS=1` builds for an older glibc.
    if glibc_linux && var("PROFILE") == "release" && var("BLACKWATCH_PLAIN_RELOCS").is_empty() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // Identical code folding: functions that compiled to the same bytes are kept once
    // (−0.2 MB). Only with the toolchain's own lld, the default linker of x86_64 Linux since
    // Rust 1.90; a configured linker may not know the flag.
    let own_lld = var("CARGO_CFG_TARGET_ARCH") == "x86_64" && var("RUSTC_LINKER").is_empty();
    if glibc_linux && own_lld && var("PROFILE") == "release" {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    }
}

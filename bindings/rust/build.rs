//! Links liburocket from URK_LIB_DIR (default: the repository's build/), with
//! an rpath so tests and examples find it without LD_LIBRARY_PATH.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=URK_LIB_DIR");
    let dir = match env::var_os("URK_LIB_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../build"),
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    if !dir.join("liburocket.so").exists() {
        println!(
            "cargo:warning=liburocket.so not found in {} (build it with `make lib`, or set URK_LIB_DIR)",
            dir.display()
        );
    }
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("liburocket.so").display()
    );
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=urocket");
    // Tests, examples and binaries of this package run against the library
    // they were linked with.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    println!("cargo:lib_dir={}", dir.display());
}

// A dependent crate's one line: an rpath to the directory urocket linked from.
fn main() {
    println!(
        "cargo:rustc-link-arg=-Wl,-rpath,{}",
        std::env::var("DEP_UROCKET_LIB_DIR").unwrap()
    );
}

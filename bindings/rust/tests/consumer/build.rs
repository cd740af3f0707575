// The one line a dependent crate needs: an rpath to the directory urocket
// linked liburocket from (exported through its `links` metadata).
fn main() {
    println!(
        "cargo:rustc-link-arg=-Wl,-rpath,{}",
        std::env::var("DEP_UROCKET_LIB_DIR").unwrap()
    );
}

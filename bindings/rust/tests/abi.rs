//! Layout, constant and signature conformance against tests/abi/abi_facts.json,
//! produced by the C compiler from urocket.h. Sizes and offsets on the Rust
//! side come from size_of / align_of / offset_of! (see sys.rs).
mod common;
use common::{count_by_name, facts};
use urocket::sys;

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The Rust type a C type must have in sys.rs.
fn rust_type(c: &str) -> String {
    let c = c.trim();
    if let Some(at) = c.find("(*)") {
        let ret = &c[..at].trim();
        let params: Vec<String> = c[at + 4..c.len() - 1].split(',').map(rust_type).collect();
        let ret = if *ret == "void" {
            String::new()
        } else {
            format!("->{}", rust_type(ret))
        };
        return squash(&format!(
            "Option<unsafe extern \"C\" fn({}){}>",
            params.join(","),
            ret
        ));
    }
    if let Some(open) = c.find('[') {
        return format!("[{};{}]", rust_type(&c[..open]), &c[open + 1..c.len() - 1]);
    }
    let stars = c.matches('*').count();
    let base = c.replace('*', "");
    let base = base.trim();
    let (is_const, base) = match base.strip_prefix("const ") {
        Some(b) => (true, b.trim()),
        None => (false, base),
    };
    let mut t = match base {
        "uint8_t" => "u8",
        "uint16_t" => "u16",
        "uint32_t" => "u32",
        "int32_t" | "int" => "i32",
        "uint64_t" => "u64",
        "int64_t" => "i64",
        "char" => "c_char",
        "void" if stars > 0 => "c_void",
        "void" => "()",
        other => other,
    }
    .to_string();
    for i in 0..stars {
        t = format!(
            "{}{}",
            if i == 0 && is_const { "*const" } else { "*mut" },
            t
        );
    }
    squash(&t)
}

#[test]
fn library_version_and_abi() {
    urocket::check_abi().expect("the loaded library has this crate's ABI");
    let f = facts();
    assert_eq!(f.get("abi_version").num(), u64::from(sys::URK_ABI_VERSION));
    assert_eq!(urocket::abi_version(), sys::URK_ABI_VERSION);
    assert_eq!(
        urocket::version(),
        (
            sys::URK_VERSION_MAJOR,
            sys::URK_VERSION_MINOR,
            sys::URK_VERSION_PATCH
        )
    );
    let (a, b, c) = urocket::version();
    assert_eq!(urocket::version_string(), format!("{a}.{b}.{c}"));
    assert!(urocket::capability_names()
        .unwrap()
        .contains(&"multishot_accept"));
}

#[test]
fn constants_match_the_header() {
    let f = facts();
    let consts = f.get("constants").obj();
    assert!(consts.len() > 60, "the whole header was read");
    for (name, value) in consts {
        let ours = sys::CONSTANTS
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("sys lacks {name}"));
        assert_eq!(ours.1, value.num(), "{name}");
    }
    assert_eq!(
        sys::CONSTANTS.len(),
        consts.len(),
        "sys has constants the header lacks"
    );
    let dups = count_by_name(sys::CONSTANTS.iter().map(|(n, _)| *n));
    assert!(dups.values().all(|&n| n == 1), "duplicate constants");
}

#[test]
fn struct_layouts_match_the_header() {
    let f = facts();
    let structs = f.get("structs").obj();
    let mut fields_checked = 0;
    for (name, s) in structs {
        let ours = sys::STRUCTS
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("sys lacks {name}"));
        assert_eq!(ours.size as u64, s.get("size").num(), "{name} size");
        assert_eq!(ours.align as u64, s.get("align").num(), "{name} align");
        let cfields = s.get("fields").arr();
        assert_eq!(ours.fields.len(), cfields.len(), "{name} field count");
        for (mine, c) in ours.fields.iter().zip(cfields) {
            let fname = c.get("name").str();
            assert_eq!(
                mine.name.trim_start_matches("r#"),
                fname,
                "{name} field order"
            );
            assert_eq!(
                mine.offset as u64,
                c.get("offset").num(),
                "{name}.{fname} offset"
            );
            assert_eq!(mine.size as u64, c.get("size").num(), "{name}.{fname} size");
            assert_eq!(
                squash(mine.ty),
                rust_type(c.get("type").str()),
                "{name}.{fname} type"
            );
            fields_checked += 1;
        }
    }
    assert_eq!(
        sys::STRUCTS.len(),
        structs.len(),
        "sys has structs the header lacks"
    );
    assert!(fields_checked > 100, "every field compared");
}

#[test]
fn function_signatures_match_the_header() {
    let f = facts();
    let funcs = f.get("functions").arr();
    for c in funcs {
        let name = c.get("name").str();
        let ours = sys::FUNCTIONS
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("sys lacks {name}"));
        assert_eq!(
            squash(ours.ret),
            rust_type(c.get("ret").str()),
            "{name} return type"
        );
        let params = c.get("params").arr();
        assert_eq!(ours.params.len(), params.len(), "{name} parameter count");
        for ((pname, pty), cp) in ours.params.iter().zip(params) {
            assert_eq!(
                squash(pty),
                rust_type(cp.get("type").str()),
                "{name}({pname}) type"
            );
        }
    }
    assert_eq!(
        sys::FUNCTIONS.len(),
        funcs.len(),
        "sys declares functions the header lacks"
    );
}

//! The committed C header `include/engine_slots.h` must be exactly what the
//! pinned cbindgen generates from `src/ffi/` with `cbindgen.toml`.
//!
//! Run with `ES_REGENERATE_HEADER=1` (or `scripts/gen-header.sh`) to write
//! the fresh header instead of comparing.

use std::path::{Path, PathBuf};

const HEADER: &str = "include/engine_slots.h";
const REGENERATE: &str = "scripts/gen-header.sh";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The version macros, from Cargo.toml's `version` (what `es_version()`
/// returns), so a C program can check at compile time which release it is
/// built against. `cbindgen.toml` cannot compute them; they go right after
/// the `#include`s.
fn version_macros() -> String {
    format!(
        "\n/**\n \
         * The version of engine-slots this header belongs to: Cargo.toml's, the\n \
         * string that es_version() returns from the matching library. While the\n \
         * major version is 0, each minor version may change the ABI.\n \
         */\n\
         #define ES_VERSION_MAJOR {}\n\
         #define ES_VERSION_MINOR {}\n\
         #define ES_VERSION_PATCH {}\n\
         #define ES_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

/// The header cbindgen generates now.
fn generate(root: &Path) -> String {
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        // Only the C surface: parsing src/ffi/ alone keeps the core's Rust
        // constants out of the header and needs no `cargo metadata` run.
        .with_src(root.join("src/ffi/mod.rs"))
        // `es_config` is declared beside `Config`: the C ABI and the shared
        // file's header share that one struct.
        .with_src(root.join("src/config.rs"))
        .generate()
        .expect("cbindgen parses src/ffi/");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

/// The first line where `a` and `b` differ, with both versions.
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => break,
            (x, y) if x == y => continue,
            (x, y) => {
                return format!(
                    "first difference at line {n}:\n  committed: {}\n  generated: {}",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>")
                )
            }
        }
    }
    "the files differ only in line endings or a trailing newline".to_owned()
}

#[test]
fn header_is_fresh() {
    let root = root();
    let fresh = generate(&root);
    let path = root.join(HEADER);
    if std::env::var_os("ES_REGENERATE_HEADER").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{HEADER} is stale: it differs from what cbindgen generates from src/ffi/.\n{}\n\
         Regenerate it with `{REGENERATE}` (= `ES_REGENERATE_HEADER=1 cargo test --test \
         header_fresh`), review `git diff {HEADER}`, and commit it.",
        first_difference(&committed, &fresh)
    );
}

#[test]
fn header_declares_the_contract() {
    let fresh = generate(&root());
    let key_max: usize = fresh
        .lines()
        .find_map(|l| l.strip_prefix("#define ES_KEY_MAX "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the header defines ES_KEY_MAX");
    assert!(key_max >= 253, "ES_KEY_MAX must fit any DNS name");
    for name in [
        "#define ES_VERSION_MAJOR ",
        "#define ES_VERSION_MINOR ",
        "#define ES_VERSION_PATCH ",
        "typedef struct es_table es_table",
        "typedef uint64_t es_engine",
        "typedef uint64_t es_ticket",
        "ES_POLICY_LEAST_LOADED = 0",
        "ES_POLICY_FILL_FIRST = 1",
        "ES_POLICY_TWO_CHOICES = 2",
        "ES_OK = 0",
        "ES_NO_CAPACITY = 1",
        "ES_ERR_NULL = -1",
        "ES_ERR_INVALID = -2",
        "ES_ERR_TABLE_FULL = -3",
        "ES_ERR_EXISTS = -4",
        "ES_ERR_NOT_FOUND = -5",
        "ES_ERR_STALE = -6",
        "ES_ERR_IO = -7",
        "ES_ERR_CORRUPT = -8",
        "ES_ERR_INTERNAL = -100",
        "uint8_t key[ES_KEY_MAX]",
        "#ifndef ENGINE_SLOTS_H",
        "extern \"C\" {",
    ] {
        assert!(fresh.contains(name), "the header lacks `{name}`");
    }
    let version = format!(
        "#define ES_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(fresh.contains(&version), "the header lacks `{version}`");
    for f in [
        "es_status_str",
        "es_version",
        "es_table_new",
        "es_table_free",
        "es_engine_add",
        "es_engine_find",
        "es_engine_add_or_find",
        "es_engine_set_user",
        "es_reserve_on_key",
        "es_finish",
        "es_config_default",
        "es_engine_set_capacity",
        "es_engine_set_healthy",
        "es_engine_set_priority",
        "es_engine_set_external",
        "es_engine_drain",
        "es_engine_remove",
        "es_reserve",
        "es_reserve_on",
        "es_commit",
        "es_cancel",
        "es_release",
        "es_touch",
        "es_reclaim_expired",
        "es_engine_stats_get",
        "es_table_snapshot",
    ] {
        let declared = [format!(" {f}("), format!("*{f}(")];
        assert!(
            declared.iter().any(|d| fresh.contains(d.as_str())),
            "the header lacks `{f}`"
        );
    }
}

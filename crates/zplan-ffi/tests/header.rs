//! include/zplan.h is what cbindgen generates from this crate; ZPLAN_BLESS=1 rewrites it.

use std::path::Path;

#[test]
fn committed_header_matches_the_generator() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("../../include/zplan.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    if std::env::var_os("ZPLAN_BLESS").is_some() {
        std::fs::write(&header, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&header).unwrap_or_default();
    assert!(
        committed == generated,
        "include/zplan.h differs from what cbindgen generates from crates/zplan-ffi: run \
         `ZPLAN_BLESS=1 cargo test -p zplan-ffi --test header` and commit the header"
    );
}

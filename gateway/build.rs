//! Embeds GraphiQL's browser files into the binary, so the playground needs no CDN.
//!
//! `scripts/setup-web.sh` fetches them from the npm registry into `web-demo/vendor/` (git
//! ignored; third-party code is never committed). When they are missing, the build still works
//! and `/graphiql` explains how to fetch them.

use std::fmt::Write as _;
use std::path::PathBuf;

const FILES: &[(&str, &str)] = &[
    ("react.production.min.js", "application/javascript"),
    ("react-dom.production.min.js", "application/javascript"),
    ("graphiql.min.js", "application/javascript"),
    ("graphiql.min.css", "text/css"),
    ("graphql-ws.min.js", "application/javascript"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let vendor = std::env::var("FINPULSE_WEB_VENDOR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../web-demo/vendor"));
    println!("cargo:rerun-if-env-changed=FINPULSE_WEB_VENDOR");
    println!("cargo:rerun-if-changed={}", vendor.display());
    let mut code = String::from(
        "/// Embedded GraphiQL files: (name, content type, bytes).\npub static ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for (name, content_type) in FILES {
        let path = vendor.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            let _ = writeln!(
                code,
                "    ({name:?}, {content_type:?}, include_bytes!({:?})),",
                path.display().to_string()
            );
        }
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("graphiql_assets.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}

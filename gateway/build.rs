//! Embeds the browser files into the binary, so nothing is loaded from a CDN or the disk:
//! GraphiQL's prebuilt bundles (`web-demo/vendor/`) and the built dashboard (`web-demo/dist/`).
//!
//! `scripts/setup-web.sh` fetches the former from the npm registry and builds the latter with
//! Vite; both folders are git ignored (nothing built or downloaded is committed). When they are
//! missing the build still works, and `/graphiql` and `/app` explain how to make them.

use std::fmt::Write as _;
use std::path::PathBuf;

/// GraphiQL's files, by name in `web-demo/vendor/`.
const FILES: &[&str] = &[
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql.min.css",
    "graphql-ws.min.js",
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
    for name in FILES {
        let content_type = content_type(name);
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
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out_dir.join("graphiql_assets.rs"), code).expect("OUT_DIR is writable");

    let dist = std::env::var("FINPULSE_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../web-demo/dist"));
    println!("cargo:rerun-if-env-changed=FINPULSE_WEB_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());
    // The set-up script writes this stamp after Vite has finished: a build that read `dist`
    // while Vite was still writing it sees a newer stamp next time and embeds the files again.
    println!(
        "cargo:rerun-if-changed={}",
        dist.join(".sources-sha256").display()
    );
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    let mut code = String::from(
        "/// The built dashboard: (path below `/app/`, content type, bytes).\npub static APP_ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for (relative, path) in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            code,
            "    ({relative:?}, {:?}, include_bytes!({:?})),",
            content_type(&relative),
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("app_assets.rs"), code).expect("OUT_DIR is writable");
}

/// Every file under `dir`, with its path relative to `root` in `/` form.
fn collect(root: &std::path::Path, dir: &std::path::Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in entries.flatten() {
        let path = entry.path();
        // Dot files are the set-up script's stamps, not part of the app.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((relative, path));
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

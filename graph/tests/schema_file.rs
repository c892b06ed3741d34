//! `web-demo/schema.graphql` is the schema the dashboard's typed operations are generated from:
//! it must be the schema this code serves, or the dashboard would be typed against another API.

#[test]
fn the_committed_schema_file_is_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../web-demo/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let served = finpulse_graph::sdl();
    assert!(
        committed == served,
        "web-demo/schema.graphql is not the served schema; regenerate it with \
         `cargo run -q -p finpulse-gateway --bin finpulse -- schema > web-demo/schema.graphql`"
    );
}

//! Rewrites `schemas/json/*.schema.json` from the types; the test
//! `committed_json_schemas_match_the_code` fails until this has been run after a change.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("json");
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(".schema.json") {
            std::fs::remove_file(&path)?;
        }
    }
    for file in ank_schemas::json_schema::all() {
        let path = dir.join(file.file_name);
        std::fs::write(&path, file.text())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

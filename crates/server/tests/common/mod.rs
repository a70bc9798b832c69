//! What the service's SDK tests share.

/// The root key id and secret a started service wrote to its credentials file.
pub fn root_key_in(file: &std::path::Path) -> (String, String) {
    let text = std::fs::read_to_string(file).unwrap();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(k)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_owned())
            })
            .unwrap()
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

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

/// An SDK configuration for the service at `url` with these credentials, given explicitly (the
/// process environment is shared by parallel tests).
pub async fn sdk(url: &str, id: &str, secret: &str, token: Option<String>) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(id, secret, token, None, "test"))
        .endpoint_url(url)
        .load()
        .await
}

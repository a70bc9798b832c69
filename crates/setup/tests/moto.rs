//! `irsa setup` against moto_server: the shared scenario (resources as
//! planned, idempotent, dry runs write nothing, teardown removes only its
//! own), and the issuer read from EKS DescribeCluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod common;

use common::{CONFIG, sdk_config, setup_scenario, target};
use irsa_setup::{Change, IssuerError, apply, connect_with, issuer_from_eks, parse_config, plan};
use irsa_testkit::MotoServer;

#[tokio::test]
async fn setup_is_idempotent_and_teardown_removes_only_its_own() {
    let m = MotoServer::start();
    setup_scenario(&sdk_config(&m.url, "testing", "testing").await).await;
}

#[tokio::test]
async fn the_issuer_comes_from_eks_describe_cluster() {
    let m = MotoServer::start();
    let conf = sdk_config(&m.url, "testing", "testing").await;
    let eks = aws_sdk_eks::Client::new(&conf);
    eks.create_cluster()
        .name("prod")
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let issuer = issuer_from_eks(&conf, "prod").await.unwrap();
    assert!(
        issuer.starts_with("https://oidc.eks.us-east-1.amazonaws.com/id/"),
        "{issuer}"
    );

    // What `irsa setup` without --issuer then registers: EKS's issuer, no thumbprint.
    let (client, account) = connect_with(&conf).await.unwrap();
    let p = plan(&parse_config(CONFIG).unwrap().config, &target(&account, &issuer)).unwrap();
    assert!(p.provider.arn.ends_with(issuer.trim_start_matches("https://")));
    let changes = apply(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert!(changes.iter().all(|c| matches!(c, Change::Created(_))), "{changes:#?}");
    let provider = client
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&p.provider.arn)
        .send()
        .await
        .unwrap();
    assert!(provider.thumbprint_list().is_empty());

    let e = issuer_from_eks(&conf, "staging").await.unwrap_err();
    assert!(matches!(e, IssuerError::ClusterNotFound { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "EKS cluster `staging` not found in region us-east-1: check the name (--cluster-name) and the region, or pass --issuer with the cluster's OIDC issuer URL"
    );
}

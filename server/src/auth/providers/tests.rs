//! Restrictions, role mapping and ID-token validation, with a test key pair from
//! `tests/fixtures` (the private key exists for these tests only).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Value};

use super::oidc::validate;
use super::settings::{ProviderKind, ProviderSettings};
use super::*;

/// jsonwebtoken checks expiry against the clock, so the tests use it too.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

const KEY: &str = include_str!("../../../tests/fixtures/oidc-test-key.pem");
const OTHER_KEY: &str = include_str!("../../../tests/fixtures/oidc-other-key.pem");
const JWKS: &str = include_str!("../../../tests/fixtures/oidc-test-jwks.json");
const ISSUER: &str = "https://sso.example.test";

fn settings(kind: ProviderKind) -> ProviderSettings {
    ProviderSettings {
        id: "sso".into(),
        kind,
        label: None,
        client_id: "ferry".into(),
        client_secret: Some("s".into()),
        client_secret_file: None,
        base_url: None,
        api_url: None,
        issuer: Some(ISSUER.into()),
        scopes: vec![],
        allowed_organizations: vec![],
        allowed_email_domains: vec![],
        groups_claim: None,
        role_map: Default::default(),
        new_user_role: None,
        imports: false,
    }
}

fn sign(claims: Value, pem: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key".into());
    encode(&header, &claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "ferry", "sub": "u-1", "exp": now() + 300, "iat": now(), "nonce": "n"})
}

fn check(token: &str) -> Result<serde_json::Map<String, Value>, AppError> {
    let set: JwkSet = serde_json::from_str(JWKS).unwrap();
    let key = DecodingKey::from_jwk(&set.keys[0]).unwrap();
    validate(token, &key, Algorithm::RS256, ISSUER, "ferry", now() * 1000)
}

#[test]
fn a_well_formed_id_token_from_the_provider_is_accepted() {
    let claims = check(&sign(claims(), KEY)).unwrap();
    assert_eq!(claims["sub"], "u-1");
}

#[test]
fn forged_or_misdirected_id_tokens_are_refused() {
    let with = |key: &str, value: Value| {
        let mut c = claims();
        c[key] = value;
        sign(c, KEY)
    };
    let cases = [
        ("another key", sign(claims(), OTHER_KEY)),
        ("another issuer", with("iss", json!("https://evil.test"))),
        ("issuer with a trailing slash", with("iss", json!(format!("{ISSUER}/")))),
        ("another audience", with("aud", json!("someone-else"))),
        ("expired", with("exp", json!(now() - 3600))),
        ("issued to another client", with("azp", json!("someone-else"))),
        ("issued in the future", with("iat", json!(now() + 3600))),
    ];
    for (what, token) in cases {
        let error = check(&token).expect_err(what);
        assert!(error.message.starts_with("sign-in refused"), "{what}: {}", error.message);
    }
    let token = sign(claims(), KEY);
    let (head, rest) = token.split_once('.').unwrap();
    let (body, signature) = rest.split_once('.').unwrap();
    let tampered_body = body.replacen(&body[4..8], "AAAA", 1);
    assert!(check(&format!("{head}.{tampered_body}.{signature}")).is_err(), "tampered claims");
    let mut missing = claims();
    missing.as_object_mut().unwrap().remove("sub");
    assert!(check(&sign(missing, KEY)).is_err(), "no subject");
}

#[test]
fn organisations_and_email_domains_restrict_who_may_sign_in() {
    let mut s = settings(ProviderKind::Github);
    let who = ExternalIdentity {
        login: "octocat".into(),
        groups: vec!["acme".into()],
        email: Some("cat@acme.test".into()),
        email_verified: true,
        ..Default::default()
    };
    assert!(allow(&s, &who).is_ok());
    s.allowed_organizations = vec!["ACME".into()];
    assert!(allow(&s, &who).is_ok(), "organisation names are case-insensitive");
    s.allowed_organizations = vec!["other".into()];
    assert_eq!(allow(&s, &who).unwrap_err().error, ferry_app::error::ErrorCode::Forbidden);
    s.allowed_organizations.clear();
    s.allowed_email_domains = vec!["acme.test".into()];
    assert!(allow(&s, &who).is_ok());
    let unverified = ExternalIdentity { email_verified: false, ..who.clone() };
    assert!(allow(&s, &unverified).is_err(), "an unverified address proves nothing");
}

#[test]
fn group_claims_map_to_the_highest_matching_role() {
    let mut s = settings(ProviderKind::Oidc);
    let who = ExternalIdentity { groups: vec!["dev".into(), "ops".into()], ..Default::default() };
    assert_eq!(mapped_role(&s, &who), None, "no map: roles are managed in Ferry");
    s.role_map.insert("dev".into(), Role::Deployer);
    s.role_map.insert("ops".into(), Role::Maintainer);
    assert_eq!(mapped_role(&s, &who), Some(Role::Maintainer));
    let outsider = ExternalIdentity { groups: vec!["sales".into()], ..Default::default() };
    assert_eq!(mapped_role(&s, &outsider), Some(Role::Viewer));
    s.new_user_role = Some(Role::None);
    assert_eq!(mapped_role(&s, &outsider), Some(Role::None));
}

#[test]
fn each_kind_asks_for_the_scopes_it_needs() {
    let mut github = settings(ProviderKind::Github);
    assert_eq!(github.scopes(), ["read:user", "user:email"]);
    github.allowed_organizations = vec!["acme".into()];
    assert!(github.scopes().contains(&"read:org".to_string()));
    let oidc = settings(ProviderKind::Oidc);
    assert_eq!(oidc.scopes(), ["openid", "profile", "email"]);
}

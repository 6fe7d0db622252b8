//! Parser tests for `ferry.yml`: a complete valid file, and invalid files whose errors
//! must name the file, the line and the field.

use ferry_engine::pipeline::{Pipeline, PipelineError};

const VALID: &str = r#"
environments:
  - name: development
    vars: { PORT: "8081" }
  - name: staging
  - name: production
build:
  - name: build
    run: ./build.sh
    timeout: 5m
deploy:
  - name: restart
    run: ./restart.sh
health_check:
  url: http://127.0.0.1:${PORT}/healthz
  expect_status: 204
  timeout: 20
"#;

fn error(text: &str) -> PipelineError {
    Pipeline::parse("ferry.yml", text).expect_err("must be rejected")
}

#[test]
fn parses_a_complete_pipeline() {
    let p = Pipeline::parse("ferry.yml", VALID).unwrap();
    let names: Vec<_> = p.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["development", "staging", "production"]);
    assert_eq!(p.build[0].timeout.0, 300);
    assert_eq!(p.deploy[0].run.as_str(), "./restart.sh");
    assert_eq!(p.deploy[0].timeout.0, 600, "default step timeout");
    let hc = p.health_check.unwrap();
    assert_eq!((hc.expect_status.0, hc.timeout.0, hc.interval.0), (204, 20, 1));
    assert_eq!(p.environments[0].vars.values().next().unwrap(), "8081");
}

#[test]
fn bad_environment_name_names_line_and_field() {
    let e = error("environments:\n  - name: development\n  - name: Prod!\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("environments[1].name"), "{e}");
    assert!(e.message.contains("Prod!"), "{e}");
    assert!(e.to_string().starts_with("ferry.yml:3:"), "{e}");
}

#[test]
fn unknown_field_is_rejected_with_its_name() {
    let e = error("environments:\n  - name: dev\nbuidl:\n  - name: b\n    run: x\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("buidl"), "{e}");
}

#[test]
fn missing_environments_is_reported() {
    let e = error("build:\n  - name: b\n    run: make\n");
    assert!(e.message.contains("environments"), "{e}");
}

#[test]
fn empty_environment_list_is_rejected() {
    let e = error("environments: []\n");
    assert!(e.message.contains("at least one environment"), "{e}");
}

#[test]
fn duplicate_environment_is_rejected() {
    let e = error("environments:\n  - name: dev\n  - name: dev\n");
    assert!(e.message.contains("used twice"), "{e}");
}

#[test]
fn duplicate_step_is_rejected() {
    let e = error("environments:\n  - name: dev\ndeploy:\n  - {name: a, run: x}\n  - {name: a, run: y}\n");
    assert!(e.message.contains("deploy") && e.message.contains("used twice"), "{e}");
}

#[test]
fn empty_command_names_the_step_field() {
    let e = error("environments:\n  - name: dev\nbuild:\n  - name: b\n    run: \"  \"\n");
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.message.contains("build[0].run"), "{e}");
}

#[test]
fn bad_duration_is_explained() {
    let e = error("environments:\n  - name: dev\nbuild:\n  - name: b\n    run: make\n    timeout: soon\n");
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.message.contains("duration"), "{e}");
    let zero = error("environments:\n  - name: dev\nbuild:\n  - {name: b, run: make, timeout: 0}\n");
    assert!(zero.message.contains("duration"), "{zero}");
}

#[test]
fn bad_health_check_fields_are_rejected() {
    let status = error("environments:\n  - name: dev\nhealth_check:\n  url: http://x/\n  expect_status: 999\n");
    assert!(status.message.contains("health_check.expect_status"), "{status}");
    let url = error("environments:\n  - name: dev\nhealth_check:\n  url: ftp://x/\n");
    assert!(url.message.contains("health_check.url") && url.message.contains("ftp://x/"), "{url}");
}

#[test]
fn reserved_variable_names_are_rejected() {
    let e = error("environments:\n  - name: dev\n    vars: { FERRY_PORT: \"1\" }\n");
    assert!(e.message.contains("reserved"), "{e}");
}

#[test]
fn wrong_types_and_broken_yaml_are_errors_not_panics() {
    for text in [
        "",
        "just text",
        "environments: {name: x}",
        "environments:\n  - name: [1, 2]\n",
        "a: [\n",
        "environments:\n  - name: dev\nbuild: 3\n",
    ] {
        let e = error(text);
        assert!(!e.message.is_empty());
    }
}

#[test]
fn keep_releases_defaults_to_five_and_must_leave_a_rollback() {
    let p = Pipeline::parse("ferry.yml", "environments:\n  - name: dev\n").unwrap();
    assert_eq!(p.keep_releases.0, 5);
    let p = Pipeline::parse("ferry.yml", "environments:\n  - name: dev\nkeep_releases: 3\n").unwrap();
    assert_eq!(p.keep_releases.0, 3);
    let e = error("environments:\n  - name: dev\nkeep_releases: 1\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("keep_releases") && e.message.contains("roll back"), "{e}");
}

#[test]
fn a_health_check_is_a_url_or_a_command() {
    let e = error("environments:\n  - name: dev\nhealth_check:\n  timeout: 5s\n");
    assert!(e.message.contains("exactly one of url and command"), "{e}");
    let both = "environments:\n  - name: dev\nhealth_check:\n  url: http://x/\n  command: true\n";
    assert!(error(both).message.contains("exactly one"));
    let body = "environments:\n  - name: dev\nhealth_check:\n  command: true\n  body_contains: ok\n";
    assert!(error(body).message.contains("body_contains needs a url"));
    let fine = "environments:\n  - name: dev\nhealth_check:\n  url: http://x/healthz\n  body_contains: ok\n";
    let p = Pipeline::parse("ferry.yml", fine).unwrap();
    assert_eq!(p.health_check.unwrap().body_contains.as_deref(), Some("ok"));
}

#[test]
fn an_environment_url_must_be_http() {
    let text = "environments:\n  - name: production\n    url: https://shop.example.com\n";
    let pipeline = Pipeline::parse("ferry.yml", text).unwrap();
    assert_eq!(pipeline.environments[0].url.as_ref().map(|u| u.as_str()), Some("https://shop.example.com"));
    let bad = error("environments:\n  - name: production\n    url: shop.example.com\n");
    assert!(bad.to_string().contains("url"), "{bad}");
    assert!(bad.to_string().starts_with("ferry.yml:3:"), "{bad}");
}

#[test]
fn a_step_condition_variables_and_directory_are_checked_where_they_stand() {
    let step = |fields: &str| {
        format!("environments:\n  - name: dev\n  - name: production\ndeploy:\n  - name: s\n    run: x\n{fields}")
    };
    let typo = error(&step("    if: environment == prod\n"));
    assert_eq!(typo.message, "deploy[0].if: there is no environment `prod`", "{typo}");
    let malformed = error(&step("    if: environment = prod\n"));
    assert!(malformed.message.starts_with("deploy[0].if:") && malformed.line == Some(7), "{malformed}");
    let up = error(&step("    working_directory: ../other-project\n"));
    assert!(up.message.contains("working_directory") && up.message.contains("inside the release"), "{up}");
    let absolute = error(&step("    working_directory: /etc\n"));
    assert!(absolute.message.contains("inside the release"), "{absolute}");
    let reserved = error(&step("    env: { FERRY_ENVIRONMENT: production }\n"));
    assert!(reserved.message.contains("deploy[0].env") && reserved.message.contains("reserved"), "{reserved}");
    let on_build = error("environments:\n  - name: dev\nbuild:\n  - name: b\n    run: x\n    if: environment == dev\n");
    assert!(on_build.message.starts_with("build[0].if: a release is built once"), "{on_build}");
    let fine = Pipeline::parse(
        "ferry.yml",
        &step("    if: environment in [dev, production]\n    working_directory: ./web/app\n    env: { A: b }\n"),
    )
    .unwrap();
    assert_eq!(fine.deploy[0].working_directory.as_ref().map(|d| d.as_str()), Some("./web/app"));
}

#[test]
fn choices_are_spelled_with_hyphens_and_old_spellings_still_work_with_a_warning() {
    let current = "environments:\n  - name: dev\n    queue: in-order\n    rollout: { strategy: all-at-once }\n";
    let p = Pipeline::parse("ferry.yml", current).unwrap();
    assert_eq!(p.environments[0].queue, ferry_engine::pipeline::QueuePolicy::InOrder);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let old = "environments:\n  - name: dev\n    queue: in_order\n    rollout: { strategy: all_at_once }\n";
    let p = Pipeline::parse("ferry.yml", old).unwrap();
    assert_eq!(p.environments[0].queue, ferry_engine::pipeline::QueuePolicy::InOrder);
    assert_eq!(
        p.warnings,
        [
            "ferry.yml: `in_order` is an old spelling of `in-order`: it still works, but write `in-order`",
            "ferry.yml: `all_at_once` is an old spelling of `all-at-once`: it still works, but write `all-at-once`",
        ]
    );
    // The next parse on this thread starts without them.
    assert!(Pipeline::parse("ferry.yml", current).unwrap().warnings.is_empty());
    let unknown = error("environments:\n  - name: dev\n    queue: fifo\n");
    assert_eq!(unknown.line, Some(3), "{unknown}");
    assert!(unknown.message.contains("expected one of `supersede`, `in-order`"), "{unknown}");
}

//! The JSON Schema of `ferry.yml` agrees with the parser: the files Ferry ships and
//! documents pass it, and for each hand-checked value the schema and the parser
//! accept and refuse the same spellings.

use ferry_engine::pipeline::{pipeline_schema, Pipeline};
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let schema = pipeline_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    jsonschema::validator_for(&schema).expect("the schema is itself valid")
}

fn as_json(yaml: &str) -> Value {
    serde_norway::from_str(yaml).expect("YAML")
}

fn readme_example() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme.find("## The pipeline file\n\n```yaml\n").expect("the README's pipeline section");
    let block = &readme[start..];
    let body = &block[block.find("```yaml\n").unwrap() + 8..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn the_files_ferry_ships_and_documents_pass_the_schema() {
    let validator = validator();
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-web/ferry.yml")).unwrap();
    for (what, text) in [("the demo", demo), ("the README's example", readme_example())] {
        Pipeline::parse("ferry.yml", &text).unwrap_or_else(|e| panic!("{what}: {e}"));
        let errors: Vec<String> = validator.iter_errors(&as_json(&text)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{what}: {errors:?}");
    }
}

#[test]
fn the_schema_and_the_parser_agree_on_each_value() {
    let validator = validator();
    // (a field's line in a file, and whether the parser accepts it)
    let environment = |extra: &str| format!("environments:\n  - name: dev\n{extra}");
    let step = |fields: &str| environment(&format!("deploy:\n  - name: s\n    run: x\n{fields}"));
    let cases = [
        step("    timeout: 90\n"),
        step("    timeout: 1m30s\n"),
        step("    timeout: 1h30m\n"),
        step("    timeout: 5 minutes\n"),
        step("    timeout: 30x\n"),
        step("    timeout: \"\"\n"),
        step("    timeout: 0\n"),
        step("    working_directory: web/app\n"),
        step("    working_directory: ../elsewhere\n"),
        step("    working_directory: /etc\n"),
        step("    working_directory: a/../../b\n"),
        step("    env: { PORT: \"1\" }\n"),
        step("    env: { FERRY_RELEASE: \"1\" }\n"),
        step("    env: { 1X: \"1\" }\n"),
        step("    if: environment == dev\n"),
        step("    if: [dev]\n"),
        step("    run_as: root\n"),
        step("    run: \"  \"\n"),
        environment("    queue: in-order\n"),
        environment("    queue: fifo\n"),
        environment("    rollout: { strategy: blue-green, slots: { blue: {}, green: {} }, switch_traffic: x }\n"),
        environment("    rollout: { strategy: rolling, batch: 25% }\n"),
        environment("    rollout: { strategy: rolling, batch: 101% }\n"),
        environment("    rollout: { strategy: rolling, batch: 3 }\n"),
        environment("    rollout: { strategy: teleport }\n"),
        environment("    rollout: { on_failure: stop }\n"),
        environment("    rollout: { on_failure: panic }\n"),
        environment("    url: https://shop.example.com\n"),
        environment("    url: shop.example.com\n"),
        environment("keep_releases: 1\n"),
        environment("keep_releases: 5\n"),
        environment("health_check:\n  url: http://x/\n  expect_status: 999\n"),
        environment("triggers:\n  - on: push\n    branch: main\n"),
        environment("triggers:\n  - on: merge\n"),
        environment("previews:\n  from: dev\n  ports: 9100-9199\n  ttl: 3d\n"),
        environment("previews:\n  from: dev\n  ttl: 3 days\n"),
        environment("previews:\n  from: dev\n  ports: 91-99\n"),
        environment("colour: blue\n"),
        "environments:\n  - name: Dev!\n".to_string(),
        "environments: []\n".to_string(),
    ];
    for text in cases {
        let parser = Pipeline::parse("ferry.yml", &text).map(|_| ()).map_err(|e| e.to_string());
        let schema = validator.validate(&as_json(&text)).map_err(|e| e.to_string());
        assert_eq!(parser.is_ok(), schema.is_ok(), "{text}\nparser: {parser:?}\nschema: {schema:?}");
    }
}

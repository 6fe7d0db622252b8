//! A `ferry.yml` to start from, for a repository that has none: chosen from the files
//! at its root (a `Dockerfile`, `package.json`, `Cargo.toml`, a Python project, a
//! static `index.html`), with two environments, a build, a restart that keeps the app
//! running after the step, a health check and a trigger for the default branch.

use ferry_app::model::Starter;

/// What the repository looks like, by the names at its root. `cargo_name` is the
/// package name read from `Cargo.toml`, when there is one.
pub fn starter(root: &[String], default_branch: &str, cargo_name: Option<&str>) -> Starter {
    let has = |name: &str| root.iter().any(|n| n == name);
    let (detected, because, build, start, explanation) = if has("Dockerfile") {
        (
            "Dockerfile",
            "Dockerfile",
            "docker build --tag \"$FERRY_PROJECT:$FERRY_RELEASE\" .".to_string(),
            None,
            "The build makes the image once per release; the deploy replaces the environment's container \
             with one of this release, publishing the app's port 8080 on $PORT (change 8080 to the port \
             your image listens on). The host needs Docker, and the user Ferry's steps run as must be \
             allowed to use it.",
        )
    } else if has("package.json") {
        (
            "Node.js",
            "package.json",
            "npm ci && npm run build --if-present".into(),
            Some("npm start".to_string()),
            "The build installs the dependencies (npm ci: commit package-lock.json) and runs your `build` \
             script if there is one; the deploy starts `npm start` with PORT set. Your app should listen on \
             $PORT.",
        )
    } else if has("Cargo.toml") {
        let binary = cargo_name.unwrap_or("app");
        (
            "Rust",
            "Cargo.toml",
            "cargo build --release --locked".into(),
            Some(format!("./target/release/{binary}")),
            "The build compiles the release binary (commit Cargo.lock); the deploy starts it with PORT set. \
             Your app should listen on $PORT. Building needs Rust on the build host.",
        )
    } else if has("requirements.txt") || has("pyproject.toml") {
        let install = if has("requirements.txt") { "-r requirements.txt" } else { "." };
        (
            "Python",
            if has("requirements.txt") { "requirements.txt" } else { "pyproject.toml" },
            format!("python3 -m venv .venv && .venv/bin/pip install {install}"),
            Some(".venv/bin/python app.py".to_string()),
            "The build makes a virtual environment with your dependencies; the deploy starts `app.py` with \
             PORT set (change the command to yours, e.g. `.venv/bin/gunicorn -b 127.0.0.1:$PORT app:app`).",
        )
    } else if has("index.html") {
        (
            "static site",
            "index.html",
            "echo \"nothing to build for a static site\"".into(),
            Some("python3 -m http.server \"$PORT\" --bind 127.0.0.1".to_string()),
            "Nothing to build; the deploy serves the release's files on $PORT with Python's HTTP server. \
             Behind a web server of your own, point it at $FERRY_TARGET_DIR/current instead.",
        )
    } else {
        (
            "unknown",
            "",
            "echo \"replace this with your build, e.g. make\"".into(),
            Some("./start.sh".to_string()),
            "Ferry did not recognise the project. Replace the build command with yours and `./start.sh` \
             with the command that starts your app listening on $PORT.",
        )
    };
    let deploy = match start {
        Some(start) => restart(&start),
        None => "  - name: replace-container\n    run: |\n      \
                 docker rm --force \"$FERRY_PROJECT-$FERRY_ENVIRONMENT\" 2>/dev/null || true\n      \
                 docker run --detach --name \"$FERRY_PROJECT-$FERRY_ENVIRONMENT\" --publish \"127.0.0.1:$PORT:8080\" \
                 \"$FERRY_PROJECT:$FERRY_RELEASE\"\n    timeout: 2m\n"
            .to_string(),
    };
    let file = format!(
        "# ferry.yml: how Ferry builds and deploys this repository ({detected}).\n\
         # Commit it at the repository's root; Ferry reads it at each release.\n\
         environments:\n  - name: staging\n    vars: {{ PORT: \"3001\" }}\n  - name: production\n    \
         vars: {{ PORT: \"3000\" }}\n\n\
         build:\n  - name: build\n    run: {build}\n    timeout: 15m\n\n\
         deploy:\n{deploy}\n\
         health_check:\n  url: http://127.0.0.1:${{PORT}}/\n  timeout: 30s\n\n\
         triggers:\n  - on: push\n    branch: {default_branch}\n    deploy: staging\n"
    );
    Starter {
        detected: detected.into(),
        because: Some(because.to_string()).filter(|b| !b.is_empty()),
        file,
        explanation: format!(
            "{explanation} Each push to {default_branch} deploys to staging; promote to production from the \
             matrix. Adjust the ports, then commit the file and import again."
        ),
    }
}

/// A deploy step that stops the release running before (its pid is kept beside the
/// releases) and starts this one in a session of its own, so it outlives the step.
fn restart(start: &str) -> String {
    format!(
        "  - name: restart\n    run: |\n      \
         pidfile=\"$FERRY_TARGET_DIR/app.pid\"\n      \
         if [ -f \"$pidfile\" ]; then kill \"$(cat \"$pidfile\")\" 2>/dev/null || true; fi\n      \
         setsid {start} >> \"$FERRY_TARGET_DIR/app.log\" 2>&1 < /dev/null &\n      \
         echo $! > \"$pidfile\"\n    timeout: 1m\n"
    )
}

/// The `name` of `[package]` in a `Cargo.toml`, read the plain way (no TOML parser
/// for one key): the first `name = "…"` after `[package]`.
pub fn cargo_package_name(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name").map(str::trim_start).and_then(|l| l.strip_prefix('=')) {
                let name = value.trim().trim_matches('"');
                let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
                return ok.then(|| name.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::pipeline::Pipeline;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_starter_is_a_valid_pipeline_for_what_it_found() {
        let cases = [
            (vec!["Dockerfile", "package.json"], "Dockerfile", "docker build"),
            (vec!["package.json", "src"], "Node.js", "npm start"),
            (vec!["Cargo.toml", "src"], "Rust", "./target/release/api"),
            (vec!["pyproject.toml"], "Python", "pip install ."),
            (vec!["requirements.txt", "app.py"], "Python", "-r requirements.txt"),
            (vec!["index.html", "style.css"], "static site", "http.server"),
            (vec!["README.md"], "unknown", "./start.sh"),
        ];
        for (root, detected, says) in cases {
            let starter = starter(&names(&root), "trunk", Some("api"));
            assert_eq!(starter.detected, detected);
            assert!(starter.file.contains(says), "{detected}: {}", starter.file);
            let pipeline = Pipeline::parse("ferry.yml", &starter.file).unwrap_or_else(|e| panic!("{detected}: {e}"));
            assert_eq!(pipeline.environments.len(), 2);
            assert_eq!(pipeline.triggers[0].branch.as_deref(), Some("trunk"), "the default branch deploys");
            assert!(pipeline.health_check.is_some() && !pipeline.deploy.is_empty());
        }
    }

    #[test]
    fn the_package_name_comes_from_cargo_toml() {
        let toml = "[workspace]\nname = \"no\"\n[package]\nversion = \"1\"\nname = \"my-api\"\n[dependencies]\n";
        assert_eq!(cargo_package_name(toml).as_deref(), Some("my-api"));
        assert_eq!(cargo_package_name("[package]\nname = \"$(x)\"\n"), None, "nothing odd reaches the file");
        assert_eq!(cargo_package_name("[workspace]\nmembers = []\n"), None);
    }
}

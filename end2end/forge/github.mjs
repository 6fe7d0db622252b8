// A local stand-in for the GitHub REST API (as GitHub Enterprise serves it, under
// /api/v3) for the browser tests: the repository list and check, webhook creation,
// deployments and statuses Ferry sends. It checks the token and the JSON bodies'
// required fields, and lists what it accepted at GET /calls. It also serves two
// private git repositories over HTTP (git's "dumb" protocol, Basic auth with the
// token, as GitHub does): octo-org/site (a static site without ferry.yml) and
// octo-org/shop (the demo app with a ferry.yml and previews), made at start-up.
// POST /test/pull/<number> pushes a change to a branch of the shop and points its
// pull request's head (refs/pull/<number>/head) at it, as a developer opening a pull
// request does; comments on pull requests are kept, and listed at GET /comments.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const port = Number(process.env.GITHUB_PORT || 18091);
const token = process.env.GITHUB_TOKEN || "ghp_e2e";
const base = `http://127.0.0.1:${port}`;
const calls = [];
let nextId = 100;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-e2e-github-"));
const git = (cwd, ...args) =>
  execFileSync("git", ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com", ...args], { cwd, stdio: "pipe" });

/// A bare repository made from `files`, ready to be served.
function repository(name, files) {
  const src = path.join(work, `src-${name}`);
  fs.mkdirSync(src, { recursive: true });
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(src, file), text);
  git(src, "init", "--quiet", "--initial-branch=main");
  git(src, "add", ".");
  git(src, "commit", "--quiet", "-m", "first");
  const bare = path.join(work, `${name}.git`);
  git(work, "clone", "--quiet", "--bare", src, bare);
  git(bare, "update-server-info");
  return bare;
}

const demo = path.resolve(process.env.FERRY_DEMO_SOURCE || "../examples/hello-web");
const shopFiles = {};
for (const file of fs.readdirSync(demo)) {
  // Ports of its own, so that nothing here meets the demo project's.
  shopFiles[file] = fs.readFileSync(path.join(demo, file), "utf8").replace(/"808(\d)"/g, '"1950$1"');
}
// Previews borrow development, each on a port of 19511-19512.
shopFiles["ferry.yml"] +=
  "\npreviews:\n  from: development\n  ports: 19511-19512\n  url: http://127.0.0.1:${PORT}/\n  max: 2\n" +
  '  teardown:\n    - name: stop\n      run: kill "$(cat "$FERRY_TARGET_DIR/app.pid")"\n';
const repos = {
  "octo-org/hello-web": null,
  "octo-org/site": repository("site", { "index.html": "<h1>site</h1>\n", "style.css": "h1 {}\n" }),
  "octo-org/shop": repository("shop", shopFiles),
};

const comments = {};

/// A change on branch `pull-<number>` of the shop, as its pull request's head.
function openPull(number) {
  const bare = repos["octo-org/shop"];
  const dev = path.join(work, `dev-shop-${number}`);
  if (!fs.existsSync(dev)) git(work, "clone", "--quiet", bare, dev);
  git(dev, "checkout", "--quiet", "-B", `pull-${number}`);
  fs.writeFileSync(path.join(dev, "VERSION"), `9.${number}.0-preview\n`);
  git(dev, "commit", "--quiet", "-am", `pull request ${number}`);
  git(dev, "push", "--quiet", "--force", "origin", `pull-${number}`);
  const sha = execFileSync("git", ["rev-parse", "HEAD"], { cwd: dev }).toString().trim();
  git(bare, "update-ref", `refs/pull/${number}/head`, sha);
  git(bare, "update-server-info");
  return sha;
}

function describe(full) {
  return {
    id: 1,
    full_name: full,
    private: true,
    description: `${full.split("/")[1]} (e2e)`,
    default_branch: "main",
    html_url: `https://github.invalid/${full}`,
    clone_url: `${base}/git/${full}.git`,
  };
}

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/// git fetching a repository's files, with the token as the password.
function serveGit(req, res) {
  const expected = "Basic " + Buffer.from(`x-access-token:${token}`).toString("base64");
  if (req.headers.authorization !== expected) {
    res.writeHead(401, { "www-authenticate": 'Basic realm="GitHub"' });
    return res.end("authentication required");
  }
  const match = req.url.match(/^\/git\/([\w-]+\/[\w-]+)\.git\/(.+)$/);
  const bare = match && repos[match[1]];
  if (!bare || match[2].split("/").includes("..")) return answer(res, 404, { message: "Not Found" });
  fs.readFile(path.join(bare, match[2].split("?")[0]), (err, data) => {
    if (err) return answer(res, 404, { message: "Not Found" });
    res.writeHead(200);
    res.end(data);
  });
}

http
  .createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", () => {
      if (req.url === "/calls") return answer(res, 200, calls);
      if (req.url === "/comments") return answer(res, 200, comments);
      const pull = req.method === "POST" && req.url.match(/^\/test\/pull\/(\d+)$/);
      if (pull) return answer(res, 200, { sha: openPull(Number(pull[1])), branch: `pull-${pull[1]}` });
      if (req.url.startsWith("/git/")) return serveGit(req, res);
      if (req.headers.authorization !== `Bearer ${token}`) return answer(res, 401, { message: "Bad credentials" });
      const url = new URL(req.url, base);
      if (req.method === "GET" && url.pathname === "/api/v3/user/repos") {
        calls.push({ method: "GET", path: "/user/repos", body: {} });
        const page = Number(url.searchParams.get("page") || 1);
        return answer(res, 200, page === 1 ? Object.keys(repos).map(describe) : []);
      }
      const match = url.pathname.match(/^\/api\/v3\/repos\/([\w-]+\/[\w-]+)(.*)$/);
      if (!match || !(match[1] in repos)) return answer(res, 404, { message: "Not Found" });
      const rest = match[2];
      if (req.method === "GET" && rest === "") return answer(res, 200, describe(match[1]));
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        return answer(res, 400, { message: "Problems parsing JSON" });
      }
      const commented = rest.match(/^\/issues\/(\d+)\/comments$/) || rest.match(/^\/issues\/comments\/(\d+)$/);
      const required = commented ? "body" : { "/hooks": "config", "/deployments": "ref" }[rest] || "state";
      if (!(required in body)) return answer(res, 422, { message: `missing ${required}` });
      if (commented && req.method === "PATCH") {
        if (!(commented[1] in comments)) return answer(res, 404, { message: "Not Found" });
        comments[commented[1]].body = body.body;
      }
      // Paths as before for the demo repository; others' with their name.
      const where = match[1] === "octo-org/hello-web" ? rest : `/${match[1]}${rest}`;
      calls.push({ method: req.method, path: where, body });
      if (commented && req.method === "PATCH") return answer(res, 200, { id: Number(commented[1]) });
      nextId += 1;
      if (commented) comments[nextId] = { pull: Number(commented[1]), body: body.body };
      return answer(res, 201, { id: nextId });
    });
  })
  .listen(port, "127.0.0.1");

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    fs.rmSync(work, { recursive: true, force: true });
    process.exit(0);
  });
}

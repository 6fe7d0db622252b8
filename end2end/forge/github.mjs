// A local stand-in for the GitHub REST API (as GitHub Enterprise serves it, under
// /api/v3) for the browser tests: the repository check, webhook creation, deployments
// and statuses Ferry sends. It checks the token and the JSON bodies' required fields,
// and lists what it accepted at GET /calls.
import http from "node:http";

const port = Number(process.env.GITHUB_PORT || 18091);
const token = process.env.GITHUB_TOKEN || "ghp_e2e";
const repo = "/api/v3/repos/octo-org/hello-web";
const calls = [];
let nextId = 100;

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

http
  .createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", () => {
      if (req.url === "/calls") return answer(res, 200, calls);
      if (req.headers.authorization !== `Bearer ${token}`) return answer(res, 401, { message: "Bad credentials" });
      if (!req.url.startsWith(repo)) return answer(res, 404, { message: "Not Found" });
      const rest = req.url.slice(repo.length);
      if (req.method === "GET" && rest === "") return answer(res, 200, { id: 1, full_name: "octo-org/hello-web" });
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        return answer(res, 400, { message: "Problems parsing JSON" });
      }
      const required = { "/hooks": "config", "/deployments": "ref" }[rest] || "state";
      if (!(required in body)) return answer(res, 422, { message: `missing ${required}` });
      calls.push({ method: req.method, path: rest, body });
      nextId += 1;
      return answer(res, 201, { id: nextId });
    });
  })
  .listen(port, "127.0.0.1");

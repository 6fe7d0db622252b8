// hello-web: serves the page built for this release and a health endpoint.
const http = require("http");
const fs = require("fs");
const path = require("path");

const port = Number(process.env.PORT || 8081);
const dist = path.join(__dirname, "dist");
const version = fs.readFileSync(path.join(dist, "version.txt"), "utf8").trim();

http
  .createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`ok ${version}\n`);
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(fs.readFileSync(path.join(dist, "index.html")));
  })
  .listen(port, "127.0.0.1", () => console.log(`hello-web ${version} listening on ${port}`));

process.on("SIGTERM", () => process.exit(0));

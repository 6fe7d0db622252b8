// Playwright runs the real `ferry` binary (built by scripts/test.sh) with a fresh data
// directory and the demo project, and drives Debian's Chromium against it.
import { defineConfig } from "@playwright/test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ADMIN_PASSWORD, SIGNED_IN } from "./constants";

const port = Number(process.env.FERRY_E2E_PORT || 18080);
const dataDir = process.env.FERRY_E2E_DATA_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "ferry-e2e-"));
process.env.FERRY_E2E_DATA_DIR = dataDir;
// Ferry runs as root here (CI), so steps run as the projects' own users: they pass
// through the data directory to their targets (mkdtemp makes it private).
fs.chmodSync(dataDir, 0o711);
const root = path.resolve(__dirname, "..");
// A real OIDC provider (npm oidc-provider) is Ferry's single sign-on in these tests.
const oidcPort = Number(process.env.FERRY_E2E_OIDC_PORT || 18090);
const publicUrl = `http://127.0.0.1:${port}`;
// A local GitHub API receives the deployments Ferry reports.
const githubPort = Number(process.env.FERRY_E2E_GITHUB_PORT || 18091);
const configFile = path.join(dataDir, "ferry.toml");
fs.writeFileSync(
  configFile,
  `public_url = "${publicUrl}"
github_api_url = "http://127.0.0.1:${githubPort}/api/v3"

[[sign_in]]
id = "sso"
kind = "oidc"
label = "Company SSO"
issuer = "http://127.0.0.1:${oidcPort}"
client_id = "ferry-e2e"
client_secret = "ferry-e2e-secret"
scopes = ["groups"]
role_map = { "ferry-deployers" = "deployer" }
`,
);

export default defineConfig({
  testDir: "./tests",
  timeout: 120_000,
  expect: { timeout: 30_000 },
  workers: 1,
  reporter: [["list"]],
  globalTeardown: "./teardown.ts",
  projects: [
    { name: "sign-in", testMatch: /auth\.setup\.ts/ },
    { name: "chromium", dependencies: ["sign-in"], use: { storageState: SIGNED_IN } },
  ],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: [
    {
      command: "node oidc/provider.mjs",
      cwd: __dirname,
      url: `http://127.0.0.1:${oidcPort}/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "pipe",
      env: { OIDC_PORT: String(oidcPort), FERRY_OIDC_CALLBACK: `${publicUrl}/auth/sso/callback` },
    },
    {
      command: "node forge/github.mjs",
      cwd: __dirname,
      url: `http://127.0.0.1:${githubPort}/calls`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "pipe",
      env: { GITHUB_PORT: String(githubPort), GITHUB_TOKEN: "ghp_e2e" },
    },
    {
      command: process.env.FERRY_E2E_BINARY || `${root}/target/debug/ferry`,
      cwd: root,
      url: `http://127.0.0.1:${port}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "pipe",
      env: {
        FERRY_BIND: `127.0.0.1:${port}`,
        FERRY_DATA_DIR: dataDir,
        // No FERRY_SITE_DIR: the interface is served as the binary serves its own copy
        // (a debug build reads that copy from dist/ on each request).
        FERRY_DEMO_SOURCE: `${root}/examples/hello-web`,
        FERRY_LOG: "info",
        FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
        FERRY_CONFIG: configFile,
      },
    },
  ],
});

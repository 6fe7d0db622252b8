// Playwright runs the real `ferry` binary (built by scripts/test.sh) with a fresh data
// directory and the demo project, and drives Debian's Chromium against it.
import { defineConfig } from "@playwright/test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const port = Number(process.env.FERRY_E2E_PORT || 18080);
const dataDir = process.env.FERRY_E2E_DATA_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "ferry-e2e-"));
process.env.FERRY_E2E_DATA_DIR = dataDir;
const root = path.resolve(__dirname, "..");
// The local administrator's password for this run; auth.setup.ts signs in with it
// through the sign-in page and saves the session for the other tests.
export const ADMIN_PASSWORD = "e2e-admin-password";
export const SIGNED_IN = path.join(__dirname, ".auth", "admin.json");

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
  webServer: {
    command: `${root}/target/debug/ferry`,
    cwd: root,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    env: {
      FERRY_BIND: `127.0.0.1:${port}`,
      FERRY_DATA_DIR: dataDir,
      FERRY_SITE_DIR: `${root}/dist`,
      FERRY_DEMO_SOURCE: `${root}/examples/hello-web`,
      FERRY_LOG: "info",
      FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
    },
  },
});

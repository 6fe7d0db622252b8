// The browser benchmarks (scripts/bench.sh runs them; they are not part of the tests):
// the release `ferry` binary on a fresh data directory with no demo project, driven
// in Debian's Chromium. Results are printed; docs/benchmarks.md keeps them.
import { defineConfig } from "@playwright/test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const port = Number(process.env.FERRY_BENCH_PORT || 18180);
// Workers load this file again; they inherit the directory the runner made.
const dataDir = process.env.FERRY_BENCH_DATA_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "ferry-ui-bench-"));
// As root, steps run as the projects' own users, who pass through it to their targets.
fs.chmodSync(dataDir, 0o711);
process.env.FERRY_BENCH_DATA_DIR = dataDir;
export const BENCH_PASSWORD = "bench-admin-password";
const root = path.resolve(__dirname, "..");

export default defineConfig({
  testDir: "./bench",
  timeout: 1_800_000,
  expect: { timeout: 120_000 },
  workers: 1,
  reporter: [["list"]],
  globalTeardown: "./bench/teardown.ts",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
    },
  },
  webServer: {
    command: process.env.FERRY_E2E_BINARY || `${root}/target/release/ferry`,
    cwd: root,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    env: {
      FERRY_BIND: `127.0.0.1:${port}`,
      FERRY_DATA_DIR: dataDir,
      FERRY_SITE_DIR: `${root}/dist`,
      FERRY_DEMO: "false",
      FERRY_LOG: "warn",
      FERRY_ADMIN_PASSWORD: BENCH_PASSWORD,
      // The database for the whole run, e.g. PostgreSQL; SQLite in the data directory otherwise.
      ...(process.env.FERRY_BENCH_DATABASE_URL ? { FERRY_DATABASE_URL: process.env.FERRY_BENCH_DATABASE_URL } : {}),
    },
  },
});

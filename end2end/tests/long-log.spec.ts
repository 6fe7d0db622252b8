// A log longer than one snapshot page (20,000 lines): followed live to its last line,
// then opened afresh, where the lines after the first page are fetched and merged, so
// search and the line count cover all of it.
import { test, expect } from "@playwright/test";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const LINES = 25_000;

test("a 25,000-line log is followed live and opened in full", async ({ page }) => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-long-log-"));
  fs.chmodSync(repo, 0o755); // the project's own user clones it
  fs.writeFileSync(
    path.join(repo, "ferry.yml"),
    `environments:\n  - name: development\ndeploy:\n  - name: chatter\n    run: seq 1 ${LINES} | sed 's/^/entry /'\n`,
  );
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com", ...args], { cwd: repo });
  git("init", "--quiet");
  git("add", ".");
  git("commit", "--quiet", "-m", "chatty");

  await page.goto("/");
  const headers = { origin: new URL(page.url()).origin };
  const api = page.request;
  expect((await api.post("/api/v1/projects", { headers, data: { slug: "chatty", name: "Chatty", repo_url: repo } })).status()).toBe(201);
  const release = await (await api.post("/api/v1/projects/chatty/releases", { headers, data: { version: "1.0.0", git_commit: "HEAD" } })).json();
  const started = await api.post("/api/v1/deployments", {
    headers, data: { project: "chatty", release_id: release.id, environment: "development" },
  });
  expect(started.status()).toBe(202);
  const id = (await started.json()).id;

  // Live: follow mode stays on while lines pour in and ends on the last one.
  await page.goto(`/deployments/${id}`);
  await expect(page.getByTestId("deployment-state")).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
  const stored = (await (await api.get(`/api/v1/deployments/${id}/log.txt`)).text()).trimEnd().split("\n").length;
  const count = `${stored} lines`;
  await expect(page.getByTestId("log-count")).toHaveText(count, { timeout: 60_000 });
  const last = page.locator(".log .line", { hasText: `entry ${LINES}` });
  await expect(last).toBeVisible();
  await expect(page.getByLabel("follow")).toBeChecked();

  // Afresh: the same count, the last line in view, and search finds a line past the first page.
  await page.reload();
  await expect(last).toBeVisible();
  await expect(page.getByTestId("log-count")).toHaveText(count);
  expect(stored).toBeGreaterThan(LINES);
  await page.getByLabel("Search the log").fill(`entry ${LINES - 1}`);
  await expect(page.getByTestId("log-count")).toHaveText("1 lines");
  // Only the lines in view are in the page.
  await page.getByLabel("Search the log").fill("");
  expect(await page.locator(".log .line").count()).toBeLessThan(300);
  fs.rmSync(repo, { recursive: true, force: true });
});

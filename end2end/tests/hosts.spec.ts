// A deployment over two hosts: two real `ferry-agent` processes, each with its own
// port, and a rolling rollout of one host at a time. The timeline shows each host
// with its batch, bar and steps as they happen, and both hosts serve the release.
import { test, expect } from "@playwright/test";
import { execFileSync, spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const base = "http://127.0.0.1:18080";
const headers = { Origin: base };
const ports = [18111, 18112];

function git(dir: string, ...args: string[]) {
  execFileSync("git", ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com", ...args], { cwd: dir });
}

test("a rolling deployment over two hosts, live on the timeline", async ({ page }) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-hosts-e2e-"));
  fs.chmodSync(scratch, 0o755); // the build runs as the project's own user and clones the repo
  const repo = path.join(scratch, "repo");
  fs.cpSync(path.resolve(__dirname, "..", "..", "examples", "hello-web"), repo, { recursive: true });
  const pipeline = fs
    .readFileSync(path.join(repo, "ferry.yml"), "utf8")
    .replace('vars: { PORT: "8081" }', 'vars: { PORT: "8081" }\n    rollout: { strategy: rolling, batch: 1 }')
    // Long enough to watch the first host run while the second waits (the build runs
    // once, on the server, so the wait goes into a host step).
    .replace("run: sh restart.sh", "run: sleep 2 && sh restart.sh");
  fs.writeFileSync(path.join(repo, "ferry.yml"), pipeline);
  git(repo, "init", "--quiet");
  git(repo, "add", ".");
  git(repo, "commit", "--quiet", "-m", "fleet");

  const api = page.request;
  expect((await api.post("/api/v1/projects", { headers, data: { slug: "fleet", name: "Fleet", repo_url: repo } })).status()).toBe(201);
  const release = await (await api.post("/api/v1/projects/fleet/releases", { headers, data: { version: "1.0.0", git_commit: "HEAD" } })).json();
  const selector = await api.put("/api/v1/projects/fleet/environments/development/agents", { headers, data: { selector: "role=fleet" } });
  expect(selector.status()).toBe(200);

  const binary = path.resolve(__dirname, "..", "..", "target", "debug", "ferry-agent");
  const agents: ChildProcess[] = [];
  try {
    for (const [i, port] of ports.entries()) {
      const identity = { name: `fleet-${i + 1}`, labels: "role=fleet" };
      const registration = await (await api.post("/api/v1/agents/registrations", { headers, data: identity })).json();
      agents.push(
        spawn(binary, [
          "--server", base,
          "--workdir", path.join(scratch, `host-${i + 1}`),
          "--registration-token", registration.token, "--var", `PORT=${port}`,
        ], { stdio: "inherit" }),
      );
    }
    await page.goto("/agents");
    for (const name of ["fleet-1", "fleet-2"]) {
      await expect(page.locator(`tr[data-agent="${name}"]`)).toHaveAttribute("data-state", "online", { timeout: 20_000 });
    }

    const started = await api.post("/api/v1/deployments", {
      headers, data: { project: "fleet", release_id: release.id, environment: "development" },
    });
    expect(started.status()).toBe(202);
    const deployment = await started.json();
    await page.goto(`/deployments/${deployment.id}`);
    const first = page.locator('li.host[data-host="fleet-1"]');
    const second = page.locator('li.host[data-host="fleet-2"]');
    await expect(first).toBeVisible();
    await expect(first).toContainText("batch 1");
    await expect(second).toContainText("batch 2");
    // One host at a time: while the first runs, the second waits.
    await expect(first).toHaveAttribute("data-state", "running");
    await expect(second).toHaveAttribute("data-state", "pending");
    await expect(second).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
    await expect(first).toHaveAttribute("data-state", "succeeded");
    await expect(page.getByTestId("deployment-state")).toHaveAttribute("data-state", "succeeded");
    // The release was built once, before the hosts; each host's steps (unpack, switch,
    // restart, health-check) follow its header, and log lines say which host printed them.
    await expect(page.locator('li.host[data-host="build"]')).toContainText("release build");
    await expect(page.locator("li.step.on-host")).toHaveCount(8);
    await expect(page.locator('li.step.on-host[data-step="build"]')).toHaveCount(0);
    await expect(page.locator(".log")).toContainText("fleet-2/restart");
    fs.mkdirSync(path.resolve(__dirname, "..", "screenshots"), { recursive: true });
    await page.screenshot({ path: path.resolve(__dirname, "..", "screenshots", "timeline-hosts.png"), fullPage: true });

    for (const port of ports) {
      expect(await (await api.get(`http://127.0.0.1:${port}/`)).text()).toContain("1.1.0");
    }
  } finally {
    for (const agent of agents) agent.kill();
    for (const i of [1, 2]) {
      const pidFile = path.join(scratch, `host-${i}`, "fleet", "development", "app.pid");
      if (fs.existsSync(pidFile)) {
        try { process.kill(Number(fs.readFileSync(pidFile, "utf8").trim())); } catch { /* already gone */ }
      }
    }
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

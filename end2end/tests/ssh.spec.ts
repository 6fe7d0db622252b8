// An SSH host added through the Settings page: a real OpenSSH server (Debian's sshd on
// a loopback port) given Ferry's public key as the page shows it; the connection is
// checked, the host key it shows trusted, and the demo app deployed there.
import { test, expect } from "@playwright/test";
import { execFileSync, spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

const headers = { Origin: "http://127.0.0.1:18080" };
const sshPort = 18122;
const appPort = 18123;

function git(dir: string, ...args: string[]) {
  execFileSync("git", ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com", ...args], { cwd: dir });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => { socket.destroy(); resolve(true); });
    socket.once("error", () => resolve(false));
  });
}

test("an SSH host added in Settings is checked, trusted and deployed to", async ({ page }) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-ssh-e2e-"));
  fs.chmodSync(scratch, 0o755); // the build runs as the project's own user and clones the repo
  const repo = path.join(scratch, "repo");
  fs.cpSync(path.resolve(__dirname, "..", "..", "examples", "hello-web"), repo, { recursive: true });
  git(repo, "init", "--quiet");
  git(repo, "add", ".");
  git(repo, "commit", "--quiet", "-m", "ssh demo");
  const api = page.request;
  expect((await api.post("/api/v1/projects", { headers, data: { slug: "over-ssh", name: "Over SSH", repo_url: repo } })).status()).toBe(201);
  const release = await (await api.post("/api/v1/projects/over-ssh/releases", { headers, data: { version: "1.0.0", git_commit: "HEAD" } })).json();

  const host = path.join(scratch, "host");
  const deployDir = path.join(host, "srv");
  fs.mkdirSync(deployDir, { recursive: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(host, "host_key")]);
  fs.mkdirSync("/run/sshd", { recursive: true });
  const user = execFileSync("id", ["-un"]).toString().trim();
  let sshd: ChildProcess | undefined;
  try {
    await page.goto("/projects/over-ssh/settings");
    const key = page.locator("#ferry-ssh-key");
    await expect(key).toHaveValue(/^ssh-ed25519 /);
    fs.writeFileSync(path.join(host, "authorized_keys"), `${await key.inputValue()}\n`);
    fs.writeFileSync(
      path.join(host, "sshd_config"),
      [
        `Port ${sshPort}`, "ListenAddress 127.0.0.1", `HostKey ${path.join(host, "host_key")}`,
        `PidFile ${path.join(host, "sshd.pid")}`, `AuthorizedKeysFile ${path.join(host, "authorized_keys")}`,
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
        "StrictModes no", "UsePAM no", "AllowTcpForwarding yes", "",
      ].join("\n"),
    );
    sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", path.join(host, "sshd_config")], { stdio: "ignore" });
    await expect.poll(() => listening(sshPort), { timeout: 20_000 }).toBe(true);

    const form = page.locator("form.ssh-host-form");
    await form.getByLabel("Name", { exact: true }).fill("edge-1");
    await form.getByLabel("Address", { exact: true }).fill("127.0.0.1");
    await form.getByLabel("Port", { exact: true }).fill(String(sshPort));
    await form.getByLabel("User", { exact: true }).fill(user);
    await form.getByLabel("Deploy directory").fill(deployDir);
    await form.getByLabel("Variables").fill(`PORT=${appPort}`);
    await form.getByRole("button", { name: "Add host" }).click();
    const row = page.locator('tr[data-ssh-host="edge-1"]');
    await expect(row).toContainText("not trusted yet");

    await row.getByRole("button", { name: "Check connection" }).click();
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", path.join(host, "host_key.pub")]).toString().split(" ")[1];
    await expect(row.locator(".ssh-check")).toContainText(fingerprint);
    await expect(row.locator(".ssh-check")).toContainText("no host key is trusted");
    await row.getByRole("button", { name: "Trust this host key" }).click();
    await expect(row.locator(".host-key")).toHaveText(fingerprint);
    await expect(row.locator(".ssh-check")).toHaveAttribute("data-ok", "true");
    await expect(row.locator(".ssh-check")).toContainText("Signed in");
    fs.mkdirSync(path.resolve(__dirname, "..", "screenshots"), { recursive: true });
    await page.screenshot({ path: path.resolve(__dirname, "..", "screenshots", "settings-ssh-hosts.png"), fullPage: true });

    const started = await api.post("/api/v1/deployments", {
      headers, data: { project: "over-ssh", release_id: release.id, environment: "development" },
    });
    expect(started.status()).toBe(202);
    const deployment = await started.json();
    await page.goto(`/deployments/${deployment.id}`);
    const edge = page.locator('li.host[data-host="edge-1"]');
    await expect(edge).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
    await expect(page.getByTestId("deployment-state")).toHaveAttribute("data-state", "succeeded");
    await expect(page.locator(".log")).toContainText("checksum verified");
    // The app the host serves is the repository's version.
    const version = fs.readFileSync(path.join(repo, "VERSION"), "utf8").trim();
    expect(await (await api.get(`http://127.0.0.1:${appPort}/`)).text()).toContain(`Version <strong id="version">${version}`);
  } finally {
    const pidFile = path.join(deployDir, "over-ssh", "development", "app.pid");
    if (fs.existsSync(pidFile)) {
      try { process.kill(Number(fs.readFileSync(pidFile, "utf8").trim())); } catch { /* already gone */ }
    }
    sshd?.kill();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

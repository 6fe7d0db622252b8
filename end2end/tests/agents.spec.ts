// An agent on another "host": registered from the Agents page with a one-time token,
// started as the real `ferry-agent` binary, shown online with its labels, then revoked.
import { test, expect } from "@playwright/test";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

test("register, watch and revoke an agent", async ({ page }) => {
  await page.goto("/agents");
  await expect(page.locator('tr[data-agent="built-in (this server)"]')).toHaveAttribute("data-state", "online");
  await page.getByRole("button", { name: "Register an agent" }).click();
  const command = (await page.getByTestId("agent-command").textContent()) || "";
  const token = command.match(/--registration-token (\S+)/)?.[1];
  expect(token).toMatch(/^ferry_reg_/);

  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-agent-e2e-"));
  const binary = path.resolve(__dirname, "..", "..", "target", "debug", "ferry-agent");
  const agent = spawn(binary, [
    "--server", "http://127.0.0.1:18080",
    "--name", "e2e-host",
    "--labels", "env=e2e,role=web",
    "--workdir", workdir,
    "--registration-token", token!,
  ], { stdio: "inherit" });
  const exited = new Promise<number | null>((resolve) => agent.on("exit", resolve));
  try {
    const row = page.locator('tr[data-agent="e2e-host"]');
    await expect(row).toHaveAttribute("data-state", "online", { timeout: 20_000 });
    await expect(row).toContainText("env=e2e, role=web");
    await row.getByRole("button", { name: "Revoke" }).click();
    await expect(row).toHaveAttribute("data-state", "revoked");
    // Refused from then on, the agent stops by itself.
    expect(await exited).toBe(1);
  } finally {
    agent.kill();
    fs.rmSync(workdir, { recursive: true, force: true });
  }
});

// The notifications page: an admin adds a signed webhook channel (a bad secret is
// refused by its field), sends a test message that a local receiver gets and verifies,
// sees the delivery delivered, and routes failures of one environment to the channel.
import { test, expect } from "@playwright/test";
import * as crypto from "crypto";
import * as http from "http";
import type { AddressInfo } from "net";
import { SIGNED_IN } from "../constants";
import { restoreDevelopment, startFailingDeployment } from "./failing";

type Received = { headers: http.IncomingHttpHeaders; body: string };

function receiver(): Promise<{ server: http.Server; port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.end("ok");
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port, received })),
  );
}

test("add a webhook channel, send a test, and route failures to it", async ({ page }) => {
  const hook = await receiver();
  const secret = "e2e-signing-secret-0123456789";
  await page.goto("/notifications");
  await expect(page.getByRole("heading", { name: "Notifications", level: 1 })).toBeVisible();

  const form = page.locator("form.channel-form");
  await form.getByLabel("Name").fill("e2e-hook");
  await form.getByLabel("Kind").selectOption("webhook");
  await form.getByLabel("URL").fill(`http://127.0.0.1:${hook.port}/in`);
  await form.getByLabel("Secret").fill("short");
  await form.getByRole("button", { name: "Add channel" }).click();
  await expect(page.getByTestId("channel-error")).toContainText("secret:");
  await form.getByLabel("Secret").fill(secret);
  await form.getByRole("button", { name: "Add channel" }).click();
  const row = page.locator('tr[data-channel="e2e-hook"]');
  await expect(row).toContainText(`POST 127.0.0.1:${hook.port}/in`);
  await expect(page.locator("table.channels")).not.toContainText(secret);

  await row.getByRole("button", { name: "Send test" }).click();
  const delivery = page.locator("table.deliveries tr[data-state=delivered]", { hasText: "Test notification" });
  await expect(delivery).toContainText("e2e-hook");
  expect(hook.received).toHaveLength(1);
  const { headers, body } = hook.received[0];
  const expected = crypto.createHmac("sha256", secret).update(`${headers["x-ferry-timestamp"]}.${body}`).digest("hex");
  expect(headers["x-ferry-signature"]).toBe(`sha256=${expected}`);
  expect(JSON.parse(body).title).toBe("✓ Test notification from Ferry");

  const rules = page.locator("form.rule-form");
  await rules.getByLabel("Project").selectOption("hello-web");
  await rules.getByLabel("Environment").selectOption("production");
  await rules.getByLabel("rolled back").check();
  await rules.getByLabel("Channel").selectOption({ label: "e2e-hook" });
  await rules.getByRole("button", { name: "Add rule" }).click();
  const rule = page.locator("table.rules tbody tr");
  await expect(rule).toHaveCount(1);
  await expect(rule).toContainText("hello-web");
  await expect(rule).toContainText("production");
  await expect(rule).toContainText("failed, rolled back");
  await page.screenshot({ path: "screenshots/notifications.png", fullPage: true });

  await rule.getByRole("button", { name: "Remove" }).click();
  await expect(rule).toHaveCount(0);
  hook.server.close();
});

// A person's own preferences on the account page: turning successes off in the app is
// saved and survives a reload; email stays off without a mail server.
test("choose which notifications to see", async ({ page }) => {
  await page.goto("/account");
  const prefs = page.locator("form.notify-preferences");
  await expect(prefs).toBeVisible();
  await expect(page.getByText("no mail server configured")).toBeVisible();
  await expect(prefs.getByLabel("failed by email")).toBeDisabled();
  const succeeded = prefs.getByLabel("succeeded in the app");
  await expect(succeeded).toBeChecked();
  await succeeded.uncheck();
  await prefs.getByRole("button", { name: "Save preferences" }).click();
  await expect(prefs.getByRole("status")).toHaveText("Saved.");
  await page.reload();
  await expect(prefs.getByLabel("succeeded in the app")).not.toBeChecked();
  await expect(prefs.getByLabel("failed in the app")).toBeChecked();

  await prefs.getByLabel("succeeded in the app").check();
  await prefs.getByRole("button", { name: "Save preferences" }).click();
  await expect(prefs.getByRole("status")).toHaveText("Saved.");
});

// A deployment that fails (development is pointed at agents that do not exist) lights
// the bell in another open browser within a second of failing.
test("a failed deployment reaches another browser's bell within a second", async ({ page, browser }) => {
  await page.goto("/");
  const watcher = await browser.newPage({ storageState: SIGNED_IN });
  await watcher.goto("/");
  await expect(watcher.locator('.live[data-connected="true"]')).toBeVisible();
  const bell = watcher.getByRole("button", { name: /^\d+ unread notifications$/ });
  // The count is the server's once the bell's list has loaded.
  await expect(bell).toHaveAttribute("aria-busy", "false");
  const before = Number(/^(\d+) unread/.exec((await bell.getAttribute("aria-label")) || "")![1]);

  const id = await startFailingDeployment(page);
  await expect
    .poll(async () => (await (await page.request.get(`/api/v1/deployments/${id}`)).json()).deployment.state, {
      intervals: [50],
    })
    .toBe("failed");
  await expect(watcher.getByRole("button", { name: `${before + 1} unread notifications` })).toBeVisible({
    timeout: 1_000,
  });
  await restoreDevelopment(page);
});

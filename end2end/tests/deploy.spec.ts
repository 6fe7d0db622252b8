// The walking skeleton end to end: the demo project in the matrix, a real deployment
// watched live on its timeline, the app answering on its port, and a promotion that
// another open browser sees without reloading.
import { test, expect, Page } from "@playwright/test";
import { SIGNED_IN } from "../constants";

const cell = (page: Page, env: string) =>
  page.locator(`section.project[data-project="hello-web"] td.cell[data-env="${env}"]`);

async function openMatrix(page: Page) {
  await page.goto("/");
  await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
  await expect(cell(page, "development")).toBeVisible();
  // Marks this document: if the page reloads, the marker is gone.
  await page.evaluate(() => ((window as any).__noReload = true));
}

test("deploy the demo to development and promote it to staging, live", async ({ page, browser }) => {
  await openMatrix(page);
  await expect(cell(page, "development")).toContainText("nothing deployed");
  const releases = page.locator('section.project[data-project="hello-web"] li.release');
  await expect(releases).toHaveCount(2);

  const watcher = await browser.newPage({ storageState: SIGNED_IN });
  await openMatrix(watcher);

  await page.locator('li.release[data-version="1.1.0"]').getByRole("button", { name: "Deploy to development" }).click();
  await expect(page).toHaveURL(/\/deployments\/\d+$/);
  for (const step of ["fetch", "build", "pack", "unpack", "switch", "restart", "health-check"]) {
    await expect(page.locator(`li.step[data-step="${step}"]`)).toHaveAttribute("data-state", "succeeded", {
      timeout: 60_000,
    });
  }
  await expect(page.getByTestId("deployment-state")).toHaveAttribute("data-state", "succeeded");
  await expect(page.locator(".log")).toContainText("building hello-web 1.1.0");
  await expect(page.locator(".log")).toContainText("healthy");
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

  // Search narrows the log; a line number is a shareable link.
  await page.getByLabel("Search the log").fill("building hello-web");
  await expect(page.locator(".log .line")).toHaveCount(1);
  await expect(page.getByTestId("log-count")).toHaveText("1 lines");
  await page.locator(".log .line .ln").first().click();
  await expect(page).toHaveURL(/#L\d+$/);
  await expect(page.locator(".log .line.lit")).toContainText("building hello-web 1.1.0");
  await page.getByLabel("Search the log").fill("");
  const download = await page.request.get(await page.getByRole("link", { name: "Download" }).getAttribute("href") as string);
  expect(await download.text()).toContain("[build] building hello-web 1.1.0");

  // The environment's port serves the new version.
  const dev = await page.request.get("http://127.0.0.1:8081/");
  expect(await dev.text()).toContain("1.1.0");

  // The other tab saw development change without reloading.
  await expect(cell(watcher, "development").getByTestId("live-version")).toHaveText("1.1.0");
  expect(await watcher.evaluate(() => (window as any).__noReload)).toBe(true);
  await expect(watcher.getByTestId("unread")).toHaveText("1");

  // Promote from the matrix with the keyboard alone: the cell's "Promote to…" button,
  // Escape closes the dialog, Enter opens it again and, once it shows what changes,
  // confirms (the focus is on Confirm). The other tab sees staging update live.
  await page.locator("a.brand").click();
  const promote = cell(page, "development").getByRole("button", { name: "Promote 1.1.0 to staging…" });
  await promote.focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("Promote 1.1.0 to staging");
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  await promote.focus();
  await page.keyboard.press("Enter");
  await expect(dialog).toContainText("Nothing is deployed in staging yet.");
  await expect(dialog).toContainText("hello-web 1.1.0: friendlier page");
  await expect(dialog.getByRole("button", { name: "Confirm promotion" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/deployments\/\d+$/);
  await expect(cell(watcher, "staging").getByTestId("live-version")).toHaveText("1.1.0", { timeout: 60_000 });
  expect(await watcher.evaluate(() => (window as any).__noReload)).toBe(true);
  const staging = await page.request.get("http://127.0.0.1:8082/");
  expect(await staging.text()).toContain("1.1.0");

  // Production is behind staging; drag the release there to promote it.
  await page.locator("a.brand").click();
  await expect(cell(page, "production").getByTestId("drift")).toContainText("behind staging (1.1.0)");
  await cell(page, "staging").locator(".live-release").dragTo(cell(page, "production"));
  await expect(dialog).toContainText("Promote 1.1.0 to production");
  await dialog.getByRole("button", { name: "Confirm promotion" }).click();
  await expect(cell(watcher, "production").getByTestId("live-version")).toHaveText("1.1.0", { timeout: 60_000 });
  await expect(cell(watcher, "production").getByTestId("drift")).toHaveCount(0);
  const production = await page.request.get("http://127.0.0.1:8083/");
  expect(await production.text()).toContain("1.1.0");

  // The release page: where 1.1.0 has been and what it changed since 1.0.0.
  await page.locator("a.brand").click();
  await page.locator('li.release[data-version="1.1.0"] a.version').click();
  await expect(page.getByTestId("changelog")).toContainText("hello-web 1.1.0: friendlier page");
  await expect(page.getByText("Changes since 1.0.0")).toBeVisible();
  for (const env of ["development", "staging", "production"]) {
    await expect(page.locator(`.release-envs li[data-env="${env}"]`)).toHaveAttribute("data-state", "succeeded");
  }

  // History is there after a full reload.
  await page.goto("/history");
  await expect(page.locator("table.history tbody tr")).toHaveCount(3);
  await expect(page.locator("table.history")).toContainText("production");
  await page.getByLabel("Environment").selectOption("staging");
  await expect(page.locator("table.history tbody tr")).toHaveCount(1);
  await expect(page.locator("table.history tbody tr")).toContainText("admin");
  await page.getByLabel("Person").fill("someone-else");
  await page.getByLabel("Person").press("Tab");
  await expect(page.getByText("No deployments match.")).toBeVisible();
  await page.getByLabel("Person").fill("admin");
  await page.getByLabel("Person").press("Tab");
  await expect(page.locator("table.history tbody tr")).toHaveCount(1);
  await page.getByLabel("State").selectOption("failed");
  await expect(page.getByText("No deployments match.")).toBeVisible();

  // Insights: one production deployment, no failures, drawn as bars.
  await page.getByRole("link", { name: "Insights" }).click();
  await expect(page.getByTestId("Change failure rate")).toContainText("0%");
  await expect(page.getByTestId("Deployment frequency")).toContainText("0.03/day");
  await expect(page.locator('table.rates tr[data-name="production"] td').nth(1)).toHaveText("1");
  await expect(page.locator("svg.chart rect.ok")).toHaveCount(30);

  // Development goes to 1.0.0, then is rolled back to 1.1.0 in one click: no rebuild.
  await page.locator("a.brand").click();
  // 1.0.0 is older than the 1.1.0 live there: the dialog says so and asks first.
  await page.locator('li.release[data-version="1.0.0"]').getByRole("button", { name: "Deploy to development" }).click();
  await expect(dialog.getByTestId("older")).toContainText("1.0.0 is older than the release live in development");
  await dialog.getByRole("button", { name: "Deploy the older release" }).click();
  await expect(page.getByTestId("deployment-state")).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
  await page.locator("a.brand").click();
  await cell(page, "development").getByRole("button", { name: "Roll back to 1.1.0…" }).click();
  await expect(dialog).toContainText("Roll development back to 1.1.0");
  await dialog.getByRole("button", { name: "Confirm rollback" }).click();
  await expect(page.locator("h1")).toContainText("rollback of development to 1.1.0");
  await expect(page.getByTestId("deployment-state")).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
  const steps = await page.locator("li.step").evaluateAll((els) => els.map((e) => e.getAttribute("data-step")));
  expect(steps).toEqual(["activate", "restart", "health-check"]);
  expect(await (await page.request.get("http://127.0.0.1:8081/")).text()).toContain("1.1.0");

  // The notification center heard of every outcome; read marks reach every tab and persist.
  await watcher.getByRole("button", { name: /^\d+ unread notifications$/ }).click();
  const panel = watcher.getByRole("dialog", { name: "Notifications" });
  await expect(panel).toContainText("↩ hello-web rolled back to 1.1.0 in development");
  await expect(panel).toContainText("✓ hello-web 1.1.0 deployed to production");
  await panel.getByRole("button", { name: "Mark all read" }).click();
  await expect(watcher.getByTestId("unread")).toHaveClass(/none/);
  await expect(page.getByTestId("unread")).toHaveClass(/none/);
  await watcher.reload();
  await expect(watcher.locator('.live[data-connected="true"]')).toBeVisible();
  await expect(watcher.getByRole("button", { name: "0 unread notifications" })).toBeVisible();
});

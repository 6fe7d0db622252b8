// The first load carries the shell and the matrix only; the other pages' code arrives,
// in a piece shared with the pages people visit with it, when one of them first opens.
import { test, expect } from "@playwright/test";

test("a page's code loads when it first opens, without a reload", async ({ page }) => {
  const pieces: string[] = [];
  page.on("request", (r) => {
    const piece = new URL(r.url()).pathname.match(/^\/split-[0-9a-f]{16}\/(\w+)\.wasm$/);
    if (piece) pieces.push(piece[1]);
  });
  await page.goto("/");
  await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
  await expect(page.locator("section.project").first()).toBeVisible();
  expect(pieces, "the matrix needs no lazily loaded piece").toEqual([]);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
  await expect(page.getByRole("heading", { name: "History", level: 1 })).toBeVisible();
  expect(pieces).toContain("split_browse");
  expect(pieces.some((p) => p.startsWith("split_") && p !== "split_browse")).toBe(false);

  // Insights shares History's piece: nothing more to fetch.
  const before = pieces.length;
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Insights" }).click();
  await expect(page.getByRole("heading", { name: "Insights", level: 1 })).toBeVisible();
  expect(pieces.length).toBe(before);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Agents" }).click();
  await expect(page.getByRole("heading", { name: "Agents", level: 1 })).toBeVisible();
  expect(pieces).toContain("split_manage");
});

test("a page whose piece cannot be fetched says so and offers a reload", async ({ page }) => {
  await page.goto("/");
  await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
  // As when Ferry was upgraded since the tab loaded: the old piece is gone.
  await page.route(/\/split-[0-9a-f]{16}\/split_browse\.wasm$/, (route) => route.fulfill({ status: 404, body: "" }));
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
  await expect(page.getByRole("alert")).toContainText("This page could not be loaded");
  await page.screenshot({ path: "screenshots/page-piece-missing.png" });
  // The rest of the app still works.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Environments" }).click();
  await expect(page.getByRole("heading", { name: "Environments", level: 1 })).toBeVisible();

  await page.unroute(/\/split-[0-9a-f]{16}\/split_browse\.wasm$/);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
  await expect(page.getByRole("heading", { name: "History", level: 1 })).toBeVisible();
});

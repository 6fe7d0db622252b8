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

// Accessibility of every view, checked by axe-core against WCAG 2.1 A and AA in both
// the light and the dark theme, and keyboard focus that can be seen. Runs after the
// other specs (files run in name order), so the views have deployments to show.
import { test, expect, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";

const WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/** What axe finds wrong in the page, one line per rule with up to five elements. */
async function violations(page: Page, view: string): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).withTags(WCAG).analyze();
  return violations.map(
    (v) => `${view}: ${v.id} (${v.impact}) ${v.help}\n    ${v.nodes.slice(0, 5).map((n) => n.target.join(" ")).join("\n    ")}`,
  );
}

async function views(page: Page): Promise<[string, string][]> {
  const [latest] = await (await page.request.get("/api/v1/deployments?limit=1")).json();
  expect(latest, "an earlier spec deployed something").toBeTruthy();
  return [
    ["matrix", "/"],
    ["deployment", `/deployments/${latest.id}`],
    ["release", `/releases/${latest.release_id}`],
    ["history", "/history"],
    ["insights", "/insights"],
    ["settings", "/projects/hello-web/settings"],
    ["agents", "/agents"],
    ["people", "/users"],
    ["audit", "/audit"],
    ["notifications", "/notifications"],
    ["account", "/account"],
    ["new project", "/projects/new"],
  ];
}

for (const scheme of ["light", "dark"] as const) {
  test(`every view passes axe in the ${scheme} theme`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme });
    const found: string[] = [];
    for (const [view, url] of await views(page)) {
      await page.goto(url);
      await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
      await expect(page.getByText("Loading…")).toHaveCount(0);
      found.push(...(await violations(page, `${view} (${scheme})`)));
    }
    expect(found, found.join("\n")).toEqual([]);
  });
}

test("keyboard focus is always visible", async ({ page }) => {
  await page.goto("/");
  await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
  // Tab through the whole page: every focused element draws an outline or a ring.
  const seen = new Set<string>();
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    const focus = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      const visible = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none";
      return { name: `${el.tagName.toLowerCase()} ${(el.getAttribute("aria-label") || el.textContent || "").trim().slice(0, 40)}`, visible };
    });
    if (!focus) continue;
    expect(focus.visible, `focus ring on ${focus.name}`).toBe(true);
    seen.add(focus.name);
  }
  // The deploy and promote actions are among the stops.
  expect([...seen].some((n) => n.includes("Deploy to development"))).toBe(true);
  expect([...seen].some((n) => n.includes("Promote"))).toBe(true);
});

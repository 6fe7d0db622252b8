// New project, as an admin who has a GitHub token: the page lists the repositories the
// token reaches (a local GitHub API), shows a starter ferry.yml for one without it,
// and imports one with it in one step: cloned with the token, the project with its
// environments on the matrix, the webhook created on the repository.
import { test, expect } from "@playwright/test";

const github = `http://127.0.0.1:${process.env.FERRY_E2E_GITHUB_PORT || 18091}`;

test("import a repository picked from the token's list; one without ferry.yml gets a starter", async ({ page }) => {
  await page.goto("/");
  await page.getByTestId("new-project").click();
  await expect(page.getByRole("heading", { name: "New project" })).toBeVisible();

  const token = page.getByTestId("import-token");
  await token.fill("ghp_wrong");
  await page.getByRole("button", { name: "List repositories" }).click();
  await expect(page.getByTestId("import-error")).toContainText("Bad credentials");
  await token.fill("ghp_e2e");
  await page.getByRole("button", { name: "List repositories" }).click();
  const list = page.getByRole("list", { name: "Repositories" });
  await expect(list.locator("li.repository")).toHaveCount(3);

  // A static site without ferry.yml: a starter to commit, and no Import button.
  await list.getByRole("button", { name: "octo-org/site" }).click();
  await expect(page.getByTestId("import-slug")).toHaveValue("site");
  await page.getByRole("button", { name: "Look inside" }).click();
  const starter = page.getByTestId("import-starter");
  await expect(starter).toHaveAttribute("data-detected", "static site");
  await expect(starter.locator("pre")).toContainText("http.server");
  await expect(page.getByTestId("import-go")).toHaveCount(0);

  // The shop has one: its pipeline is shown, and Import makes the project.
  await list.getByRole("button", { name: "octo-org/shop" }).click();
  await page.getByRole("button", { name: "Look inside" }).click();
  const found = page.getByTestId("import-pipeline");
  await expect(found).toContainText("development → staging → production");
  await expect(found).toContainText("build: sh build.sh");
  await page.screenshot({ path: "test-results/import-preview.png", fullPage: true });
  await page.getByTestId("import-go").click();
  const done = page.getByTestId("import-done");
  await expect(done).toContainText("Created shop with development, staging, production.");
  await expect(done).toContainText("webhook was created");

  const calls = (await (await page.request.get(`${github}/calls`)).json()) as any[];
  const hook = calls.find((c) => c.path === "/octo-org/shop/hooks");
  expect(hook.body.config.url).toBe(`${new URL(page.url()).origin}/hooks/github`);

  await done.getByRole("link", { name: "To the environments" }).click();
  await expect(page.locator(`section.project[data-project="shop"]`)).toBeVisible();
});

// New project, as an admin who has a GitHub token: the page lists the repositories the
// token reaches (a local GitHub API), shows a starter ferry.yml for one without it,
// and imports one with it in one step: cloned with the token, the project with its
// environments on the matrix, the webhook created on the repository. Then a pull
// request of the imported shop gets a preview, shown in the matrix's previews group.
import * as crypto from "crypto";
import { test, expect } from "@playwright/test";

test.describe.configure({ mode: "serial" });

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

test("a pull request's preview shows in the project's previews group, and goes when the request closes", async ({
  page,
  request,
}) => {
  const calls = (await (await request.get(`${github}/calls`)).json()) as any[];
  const secret = calls.find((c) => c.path === "/octo-org/shop/hooks").body.config.secret as string;
  const { sha, branch } = await (await request.post(`${github}/test/pull/5`)).json();
  const send = async (action: string) => {
    const body = JSON.stringify({
      action,
      number: 5,
      pull_request: {
        number: 5,
        title: "Bigger buttons",
        html_url: "https://github.invalid/octo-org/shop/pull/5",
        user: { login: "mona" },
        merged: false,
        head: { ref: branch, sha, repo: { full_name: "octo-org/shop" } },
        base: { ref: "main", repo: { full_name: "octo-org/shop" } },
      },
      repository: { full_name: "octo-org/shop", default_branch: "main" },
      sender: { login: "mona" },
    });
    const signature = "sha256=" + crypto.createHmac("sha256", secret).update(body).digest("hex");
    const answer = await request.post("/hooks/github", {
      headers: {
        "content-type": "application/json",
        "x-github-event": "pull_request",
        "x-github-delivery": `e2e-pull-5-${action}`,
        "x-hub-signature-256": signature,
      },
      data: body,
    });
    expect(answer.status()).toBe(202);
  };
  const comment = async () => {
    const all = (await (await request.get(`${github}/comments`)).json()) as Record<string, any>;
    return Object.values(all).filter((c) => c.pull === 5).map((c) => c.body).join("\n");
  };

  // The page is open before the request: the preview appears, and goes, as it happens.
  await page.goto("/");
  const shop = page.locator(`section.project[data-project="shop"]`);
  await expect(shop).toBeVisible();
  await expect(shop.getByTestId("previews")).toHaveCount(0);
  await send("opened");
  await expect.poll(comment, { timeout: 90_000 }).toContain("✅ Live");
  const previews = shop.getByTestId("previews");
  await expect(previews.locator("summary")).toHaveText("Previews (1)");
  const row = previews.locator(`tr.preview[data-env="pr-5"]`);
  await expect(row).toHaveAttribute("data-state", "succeeded");
  await expect(row).toContainText("Bigger buttons");
  await expect(row).toContainText(`${branch} by mona`);
  await expect(row.getByRole("link", { name: /^pr-5-[0-9a-f]{7}$/ })).toHaveAttribute("href", "http://127.0.0.1:19511/");
  expect(await (await request.get("http://127.0.0.1:19511/")).text()).toContain("9.5.0-preview");
  // The lifecycle stays as it was: three environments, no preview release to deploy.
  await expect(shop.locator("table.matrix thead th")).toHaveCount(3);
  await expect(shop.locator(`li.release[data-version^="pr-5-"]`)).toHaveCount(0);
  await page.screenshot({ path: "test-results/previews-group.png", fullPage: true });
  // The group folds away, and back.
  await previews.locator("summary").click();
  await expect(row).toBeHidden();
  await previews.locator("summary").click();
  await expect(row).toBeVisible();

  await send("closed");
  await expect.poll(comment, { timeout: 90_000 }).toContain("Removed");
  await expect(shop.getByTestId("previews")).toHaveCount(0);
});

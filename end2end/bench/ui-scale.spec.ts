// Does the interface stay quick at scale? 50 services × 6 environments in the matrix,
// live updates and promotion on it, and a 100,000-line log streamed and then opened.
// Real deployments seed everything (two small git repositories, the built-in agent).
// Prints one JSON object with the measurements; scripts/bench.sh runs it.
import { test, expect, request, APIRequestContext, Browser, Page } from "@playwright/test";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BENCH_PASSWORD } from "../bench.config";

const ENVIRONMENTS = ["development", "integration", "qa", "staging", "preprod", "production"];
const SERVICES = 50;
const LOG_LINES = 100_000;
const results: Record<string, unknown> = {};
let api: APIRequestContext;
let signedIn: string;
let work: string;

function git(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-C", dir, "-c", "user.name=Bench", "-c", "user.email=bench@example.com", ...args])
    .toString()
    .trim();
}

/** A repository with `files` committed twice (two releases); returns the two commits. */
function makeRepo(name: string, files: Record<string, string>): { dir: string; commits: string[] } {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  const commits = [];
  for (const version of ["1.0.0", "1.1.0"]) {
    for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text);
    fs.writeFileSync(path.join(dir, "VERSION"), version);
    git(dir, "add", "-A");
    git(dir, "commit", "-q", "-m", `release ${version}`);
    commits.push(git(dir, "rev-parse", "HEAD"));
  }
  return { dir, commits };
}

const environmentsYaml = (names: string[]) => names.map((n) => `  - name: ${n}\n`).join("");

async function ok(response: Awaited<ReturnType<APIRequestContext["get"]>>) {
  if (!response.ok()) throw new Error(`${response.url()}: ${response.status()} ${await response.text()}`);
  return response.json();
}

async function deployAndWait(project: string, releaseId: number, environment: string) {
  const created = await ok(await api.post("/api/v1/deployments", { data: { project, release_id: releaseId, environment } }));
  return waitFinished(created.id);
}

async function waitFinished(id: number) {
  for (;;) {
    const detail = await ok(await api.get(`/api/v1/deployments/${id}`));
    const state = detail.deployment.state;
    if (state === "succeeded") return detail.deployment;
    if (state === "failed" || state === "cancelled") throw new Error(`deployment ${id} ${state}: ${detail.deployment.reason}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `jobs` with at most `width` at a time. */
async function pool<T>(width: number, jobs: (() => Promise<T>)[]) {
  const queue = [...jobs];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await job();
  }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number) => Math.round(x * 10) / 10;

/** A page that records long tasks (main thread busy > 50 ms) from its first moment. */
async function benchPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ storageState: signedIn });
  await context.addInitScript(() => {
    (window as any).__long = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) (window as any).__long.push({ at: e.startTime, ms: e.duration });
    }).observe({ type: "longtask", buffered: true });
  });
  return context.newPage();
}

/** Long tasks since `since` (page time): count, longest and total blocking time. */
async function longTasks(page: Page, since = 0) {
  const tasks: { at: number; ms: number }[] = await page.evaluate(() => (window as any).__long);
  const mine = tasks.filter((t) => t.at >= since);
  return {
    count: mine.length,
    longest_ms: round(Math.max(0, ...mine.map((t) => t.ms))),
    blocking_ms: round(mine.reduce((sum, t) => sum + Math.max(0, t.ms - 50), 0)),
  };
}

const pageNow = (page: Page) => page.evaluate(() => performance.now());

test.beforeAll(async ({ baseURL }) => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-ui-bench-repos-"));
  fs.chmodSync(work, 0o755); // as root, Ferry's steps run as the projects' users and clone these
  api = await request.newContext({ baseURL });
  await ok(await api.post("/auth/login", { data: { login: "admin", password: BENCH_PASSWORD } }));
  signedIn = path.join(work, "signed-in.json");
  await api.storageState({ path: signedIn });
});

test.afterAll(async () => {
  console.log(`UI BENCH RESULTS ${JSON.stringify(results, null, 2)}`);
  fs.rmSync(work, { recursive: true, force: true });
});

test("50 services × 6 environments", async ({ browser }) => {
  const repo = makeRepo("service", {
    "ferry.yml": `environments:\n${environmentsYaml(ENVIRONMENTS)}build:\n  - name: build\n    run: cat VERSION\ndeploy:\n  - name: restart\n    run: echo restarted\n`,
  });
  // Service i has 1.0.0 live in its first 1 + i % 6 environments, and the even ones
  // have 1.1.0 in development too: every depth of promotion, and drift markers.
  const seedStart = Date.now();
  const releases: Record<string, number[]> = {};
  const slugs = Array.from({ length: SERVICES }, (_, i) => `svc-${String(i + 1).padStart(2, "0")}`);
  await pool(6, slugs.map((slug, i) => async () => {
    await ok(await api.post("/api/v1/projects", { data: { slug, name: `Service ${i + 1}`, repo_url: repo.dir } }));
    releases[slug] = [];
    for (const [n, version] of ["1.0.0", "1.1.0"].entries()) {
      const r = await ok(await api.post(`/api/v1/projects/${slug}/releases`, { data: { version, git_commit: repo.commits[n] } }));
      releases[slug].push(r.id);
    }
    for (const env of ENVIRONMENTS.slice(0, 1 + (i % 6))) await deployAndWait(slug, releases[slug][0], env);
    if (i % 2 === 0) await deployAndWait(slug, releases[slug][1], "development");
  }));
  results.seed_seconds = round((Date.now() - seedStart) / 1000);

  const page = await benchPage(browser);
  const cells = page.locator("td.cell");
  const loads: number[] = [];
  const fetches: number[] = [];
  for (let run = 0; run < 5; run++) {
    await page.goto("/");
    await expect(cells).toHaveCount(SERVICES * ENVIRONMENTS.length);
    await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
    loads.push(await pageNow(page));
    // The server's share: the matrix request alone, from request start to last byte.
    fetches.push(await page.evaluate(() => {
      const entry = performance.getEntriesByType("resource").find((e) => e.name.includes("/rpc/load_matrix"));
      return entry ? entry.duration : NaN;
    }));
  }
  results.matrix = {
    cells: await cells.count(),
    load_ms_median: round(median(loads)),
    load_ms_max: round(Math.max(...loads)),
    matrix_request_ms_median: round(median(fetches)),
    long_tasks_during_load: await longTasks(page),
    dom_elements: await page.evaluate(() => document.getElementsByTagName("*").length),
  };

  // A finished deployment reaches its cell: the browser's clock when the cell shows
  // it, against the server's finished_at (one machine, one clock).
  const cell = (slug: string, env: string) => page.locator(`section.project[data-project="${slug}"] td.cell[data-env="${env}"]`);
  const watch = (slug: string, env: string) =>
    page.evaluate(([slug, env]) => new Promise<number>((resolve) => {
      const seen = () => document.querySelector(`section.project[data-project="${slug}"] td.cell[data-env="${env}"] [data-testid="live-version"]`)?.textContent === "1.0.0";
      const observer = new MutationObserver(() => { if (seen()) { observer.disconnect(); resolve(Date.now()); } });
      observer.observe(document.body, { subtree: true, childList: true, characterData: true });
    }), [slug, env]);
  // Services whose 1.0.0 stops before production: promote each one environment further.
  const movable = slugs.filter((_, i) => i % 6 !== 5);
  const single: number[] = [];
  for (const slug of movable.slice(0, 10)) {
    const i = slugs.indexOf(slug);
    const next = ENVIRONMENTS[1 + (i % 6)];
    const seen = watch(slug, next);
    const finished = await deployAndWait(slug, releases[slug][0], next);
    single.push((await seen) - Date.parse(finished.finished_at));
  }
  // Twenty at once: the page stays responsive and every cell catches up.
  const burstSince = await pageNow(page);
  const burst = movable.slice(10, 30);
  const finishes = await Promise.all(burst.map(async (slug) => {
    const i = slugs.indexOf(slug);
    const next = ENVIRONMENTS[1 + (i % 6)];
    const seen = watch(slug, next);
    const finished = await deployAndWait(slug, releases[slug][0], next);
    return (await seen) - Date.parse(finished.finished_at);
  }));
  results.live_update = {
    finished_to_cell_ms_median: median(single),
    finished_to_cell_ms_max: Math.max(...single),
    burst_of_20_finished_to_cell_ms_max: Math.max(...finishes),
    long_tasks_during_burst: await longTasks(page, burstSince),
  };

  // Promotion on the full matrix: dragging a release opens the confirmation with what
  // changes; so does the keyboard path.
  const target = movable[30];
  const from = ENVIRONMENTS[slugs.indexOf(target) % 6];
  const to = ENVIRONMENTS[1 + (slugs.indexOf(target) % 6)];
  const dialog = page.getByRole("dialog");
  let started = Date.now();
  await cell(target, from).locator(".live-release").dragTo(cell(target, to));
  await expect(dialog.getByRole("button", { name: "Confirm promotion" })).toBeEnabled();
  const dragMs = Date.now() - started;
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  const button = cell(target, from).getByRole("button", { name: new RegExp(`^Promote .* to ${to}…$`) });
  await button.focus();
  started = Date.now();
  await page.keyboard.press("Enter");
  await expect(dialog.getByRole("button", { name: "Confirm promotion" })).toBeEnabled();
  results.promotion = { drop_to_dialog_ms: dragMs, keyboard_to_dialog_ms: Date.now() - started };
  await page.keyboard.press("Escape");
  await page.context().close();
});

test("a 100,000-line log", async ({ browser }) => {
  // Every tenth line coloured, one error line at 60,000.
  const chatter = `seq 1 ${LOG_LINES} | awk '{ if ($1 == 60000) print "error: disk full at line " $1; ` +
    `else if ($1 % 10 == 0) printf "\\033[32mok\\033[0m line %d of the release notes\\n", $1; ` +
    `else print "line " $1 " of the release notes" }'\n`;
  const repo = makeRepo("chatty", {
    "ferry.yml": `environments:\n${environmentsYaml(["development"])}build:\n  - name: build\n    run: cat VERSION\ndeploy:\n  - name: chatter\n    run: sh chatter.sh\n    timeout: 10m\n`,
    "chatter.sh": chatter,
  });
  await ok(await api.post("/api/v1/projects", { data: { slug: "chatty", name: "Chatty", repo_url: repo.dir } }));
  const release = await ok(await api.post("/api/v1/projects/chatty/releases", { data: { version: "1.0.0", git_commit: repo.commits[0] } }));

  // Streamed live: the page is open while the step prints.
  const page = await benchPage(browser);
  const created = await ok(await api.post("/api/v1/deployments", { data: { project: "chatty", release_id: release.id, environment: "development" } }));
  await page.goto(`/deployments/${created.id}`);
  const last = page.locator(".log .line", { hasText: `line ${LOG_LINES} of the release notes` });
  const lastSeen = page.evaluate((text) => new Promise<number>((resolve) => {
    const seen = () => [...document.querySelectorAll(".log .line")].some((l) => l.textContent?.includes(text));
    if (seen()) return resolve(Date.now());
    const observer = new MutationObserver(() => { if (seen()) { observer.disconnect(); resolve(Date.now()); } });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  }), `line ${LOG_LINES} of the release notes`);
  const finished = await waitFinished(created.id);
  const steps = (await ok(await api.get(`/api/v1/deployments/${created.id}`))).steps;
  const chatterStep = steps.find((s: { name: string }) => s.name === "chatter");
  const printedMs = Date.parse(chatterStep.finished_at) - Date.parse(chatterStep.started_at);
  const gaveUp = new Promise<number>((_, reject) => setTimeout(() => reject(new Error("the last line never showed")), 180_000));
  const seenAt = await Promise.race([lastSeen, gaveUp]);
  const behindMs = seenAt - Date.parse(chatterStep.finished_at);
  results.log_streaming = {
    lines: LOG_LINES,
    step_printing_ms: printedMs,
    last_line_in_browser_after_step_end_ms: behindMs,
    lines_per_second_printed: Math.round(LOG_LINES / (printedMs / 1000)),
    lines_per_second_shown: Math.round(LOG_LINES / ((seenAt - Date.parse(chatterStep.started_at)) / 1000)),
    deployment_finished_at: finished.finished_at,
    long_tasks_while_streaming: await longTasks(page),
  };

  // Opened afterwards: the whole log arrives in one snapshot.
  await page.goto(`/deployments/${created.id}`);
  await expect(last).toBeVisible();
  const openMs = await pageNow(page);
  const count = page.getByTestId("log-count");
  const total = await count.textContent();
  const since = await pageNow(page);

  const search = page.getByLabel("Search the log");
  let started = Date.now();
  await search.fill("line 99999 of");
  await expect(count).toHaveText("1 lines");
  const searchMs = Date.now() - started;
  await search.fill("");
  await expect(count).toHaveText(total as string);

  started = Date.now();
  await page.getByRole("button", { name: "First error" }).click();
  await expect(page.locator(".log .line.lit")).toContainText("error: disk full at line 60000");
  const errorMs = Date.now() - started;

  // Scrolling to the middle renders the lines there by the next frames.
  const scrollMs = await page.evaluate(() => new Promise<number>((resolve) => {
    const log = document.querySelector(".log") as HTMLElement;
    const t0 = performance.now();
    log.scrollTop = log.scrollHeight / 2;
    requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
  }));
  const middle = await page.locator(".log .line").evaluateAll((lines) => lines.map((l) => Number(l.id.slice(1))));
  expect(middle.some((seq) => Math.abs(seq - LOG_LINES / 2) < 1000)).toBe(true);
  results.log_viewer = {
    lines_shown: total,
    open_to_last_line_ms: round(openMs),
    search_ms: searchMs,
    first_error_ms: errorMs,
    scroll_to_middle_ms: round(scrollMs),
    rendered_line_elements: await page.locator(".log .line").count(),
    long_tasks_after_open: await longTasks(page, since),
  };
  await page.context().close();
});

// What a browser with an empty cache downloads: the first load (shell and matrix), then
// each other page's lazily loaded wasm, opened in turn by in-app navigation.
test("the SPA's weight as served", async ({ browser }) => {
  const context = await browser.newContext({ storageState: signedIn });
  const page = await context.newPage();
  const transferred: { url: string; bytes: number }[] = [];
  let inFlight = 0;
  let lastDone = Date.now();
  const isAsset = (url: string) => !/\/(api|rpc|auth|ws)\b/.test(new URL(url).pathname);
  page.on("request", (r) => { if (isAsset(r.url())) inFlight++; });
  page.on("requestfinished", async (r) => {
    if (!isAsset(r.url())) return;
    // The body as it crossed the wire (brotli here), as Chromium counted it; it counts
    // a response it had no body for (a redirect, say) as negative.
    transferred.push({ url: r.url(), bytes: Math.max(0, (await r.sizes()).responseBodySize) });
    inFlight--;
    lastDone = Date.now();
  });
  // A failed request ends too, or the wait below would never end.
  page.on("requestfailed", (r) => { if (isAsset(r.url())) { inFlight--; lastDone = Date.now(); } });
  const settled = async () => {
    while (inFlight > 0 || Date.now() - lastDone < 500) await page.waitForTimeout(50);
  };
  const taken = () => transferred.splice(0).reduce((sum, t) => sum + t.bytes, 0);

  await page.goto("/");
  await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
  await settled();
  const firstFiles = transferred.map((t) => new URL(t.url).pathname.replace(/-[0-9a-f]{16}/, "-<hash>"));
  const firstLoad = taken();
  const pages: Record<string, number> = {};
  for (const route of ["/deployments/1", "/history", "/insights", "/releases/1", "/projects/svc-01/settings",
    "/agents", "/users", "/audit", "/notifications", "/account"]) {
    // A link click, as in the app: the router loads the page's piece without a reload.
    await page.evaluate((href) => {
      const link = Object.assign(document.createElement("a"), { href });
      document.body.append(link);
      link.click();
      link.remove();
    }, route);
    await expect(page).toHaveURL(route);
    await settled();
    pages[route] = taken();
  }
  const lazy = Object.values(pages).reduce((a, b) => a + b, 0);
  results.spa_weight = {
    first_load_bytes: firstLoad,
    first_load_files: firstFiles,
    page_bytes: pages,
    all_pages_bytes: firstLoad + lazy,
  };
  await context.close();
});

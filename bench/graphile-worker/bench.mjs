// bench/graphile-worker/bench.mjs — enqueue benchmark of graphile-worker, the
// nearest peer, on the same PostgreSQL cluster as Lockstep's `batch_write`
// benchmark (scripts/bench runs both; see README.md here).
//
//   node bench/graphile-worker/bench.mjs --database-url postgres://…/empty_db [--jobs N]
//
// Every job is "debounced" in graphile-worker's sense: it carries a job key
// (`emp-000123:integration-1`), runs 5 minutes from now, and uses
// jobKeyMode 'replace', so adding a key again moves its run time. Phases:
//   a. one at a time: N/4 `addJob`s with fresh keys, awaited one after another
//      on one connection;
//   b. the same N/4 keys again (the debounce path: the jobs are replaced);
//   c. concurrent singles: N `addJob`s, 32 in flight on a pool of 32, fresh
//      keys, then the same keys again;
//   d. batched: N jobs through `addJobs` in batches of 1,000, 4 batches in
//      flight, fresh keys, then the same keys again (replace semantics:
//      `jobKeyPreserveRunAt` false).
// Workers are not running: only the write path (job insertion) is measured.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Logger, makeWorkerUtils } from "graphile-worker";

const { values: args } = parseArgs({
  options: {
    "database-url": { type: "string" },
    jobs: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "32" },
    batch: { type: "string", default: "1000" },
    "batches-in-flight": { type: "string", default: "4" },
  },
});
const databaseUrl = args["database-url"] ?? process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("usage: node bench.mjs --database-url postgres://…/empty_db [--jobs N]");
  process.exit(2);
}
const positive = (name) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const JOBS = positive("jobs");
const SINGLES = Math.max(1, Math.floor(JOBS / 4));
const CONCURRENCY = positive("concurrency");
const BATCH = positive("batch");
const BATCHES_IN_FLIGHT = positive("batches-in-flight");
const DELAY_MS = 5 * 60 * 1000;

// graphile-worker's own log lines (migration notices…) stay quiet; warnings
// and errors still go to stderr.
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});
const packageJson = new URL("../package.json", import.meta.resolve("graphile-worker"));
const workerVersion = JSON.parse(readFileSync(packageJson, "utf8")).version;

const key = (n, integration) => `emp-${String(n).padStart(6, "0")}:integration-${integration}`;
const payload = (n) => ({ record: `emp-${String(n).padStart(6, "0")}` });
const runAt = () => new Date(Date.now() + DELAY_MS);

/** Runs `task(i)` for i in 0..count with `inFlight` of them at once; times each. */
async function timed(count, inFlight, task) {
  const latencies = new Array(count);
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    for (let i = next++; i < count; i = next++) {
      const sent = performance.now();
      await task(i);
      latencies[i] = performance.now() - sent;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
  return { seconds: (performance.now() - started) / 1000, latencies };
}

const addSingle = (utils, integration) => (n) =>
  utils.addJob("sync", payload(n), { jobKey: key(n, integration), runAt: runAt(), jobKeyMode: "replace" });

const addBatch = (utils, integration) => (b) => {
  const specs = [];
  for (let n = b * BATCH; n < Math.min((b + 1) * BATCH, JOBS); n++) {
    specs.push({ identifier: "sync", payload: payload(n), jobKey: key(n, integration), runAt: runAt() });
  }
  // false = on a key conflict take the new run_at (replace), like jobKeyMode 'replace'.
  return utils.addJobs(specs, false);
};

const one = await makeWorkerUtils({ connectionString: databaseUrl, maxPoolSize: 1, logger });
const pool = await makeWorkerUtils({
  connectionString: databaseUrl,
  maxPoolSize: Math.max(CONCURRENCY, BATCHES_IN_FLIGHT),
  logger,
});
try {
  await one.migrate();
  const settings = await one.withPgClient(async (c) => {
    const { rows } = await c.query(
      "select current_setting('server_version') as v, current_setting('fsync') as f, current_setting('synchronous_commit') as s",
    );
    return rows[0];
  });

  // Warm-up (not measured): opens every pooled connection and primes the
  // plpgsql plans; its jobs use their own keys ("integration-0").
  await timed(CONCURRENCY * 4, 1, addSingle(one, 0));
  await timed(CONCURRENCY * 4, CONCURRENCY, addSingle(pool, 0));

  const batches = Math.ceil(JOBS / BATCH);
  const phases = [];
  const run = async (name, count, unit, result) => phases.push({ name, count, unit, ...(await result) });
  await run("one at a time, fresh keys (addJob, 1 connection)", SINGLES, "call", timed(SINGLES, 1, addSingle(one, 1)));
  await run("one at a time, repeat keys (debounce)", SINGLES, "call", timed(SINGLES, 1, addSingle(one, 1)));
  await run(`concurrent singles, fresh keys (${CONCURRENCY} in flight)`, JOBS, "call",
    timed(JOBS, CONCURRENCY, addSingle(pool, 2)));
  await run(`concurrent singles, repeat keys (debounce)`, JOBS, "call", timed(JOBS, CONCURRENCY, addSingle(pool, 2)));
  await run(`batched, fresh keys (addJobs ×${BATCH}, ${BATCHES_IN_FLIGHT} in flight)`, JOBS, "batch",
    timed(batches, BATCHES_IN_FLIGHT, addBatch(pool, 3)));
  await run("batched, repeat keys (debounce)", JOBS, "batch", timed(batches, BATCHES_IN_FLIGHT, addBatch(pool, 3)));

  // Check that repeats replaced jobs rather than adding new ones.
  const check = await one.withPgClient(async (c) => {
    const { rows } = await c.query(`
      select split_part(key, ':', 2) as integration, count(*)::int as jobs,
             min(revision) as min_rev, max(revision) as max_rev,
             min(run_at) > now() as all_future
      from graphile_worker._private_jobs group by 1 order by 1`);
    return rows;
  });

  console.log(
    `\ngraphile-worker ${workerVersion}, node ${process.version}, PostgreSQL ${settings.v} ` +
      `(fsync=${settings.f}, synchronous_commit=${settings.s}); jobs=${JOBS} (one-at-a-time phases ${SINGLES}), ` +
      `concurrency=${CONCURRENCY}, batch=${BATCH} × ${BATCHES_IN_FLIGHT} in flight, runAt=now+5min, jobKeyMode=replace, workers off`,
  );
  console.log("| phase | jobs/s | p50 | p99 |");
  console.log("|---|---:|---:|---:|");
  for (const p of phases) {
    const sorted = [...p.latencies].sort((x, y) => x - y);
    const pct = (q) => sorted[Math.round((sorted.length - 1) * q)];
    const ms = (v) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
    console.log(`| ${p.name} | ${Math.round(p.count / p.seconds)} | ${ms(pct(0.5))} | ${ms(pct(0.99))} |`);
  }
  console.log("\n(p50/p99 per addJob call; per addJobs batch for the batched phases.)");
  console.log(
    "jobs table after the run: " +
      check.map((r) => `${r.integration}: ${r.jobs} jobs, revision ${r.min_rev}–${r.max_rev}${r.all_future ? "" : ", SOME NOT IN THE FUTURE"}`).join("; "),
  );
  const expect = { "integration-1": SINGLES, "integration-2": JOBS, "integration-3": JOBS };
  for (const [integration, jobs] of Object.entries(expect)) {
    const row = check.find((r) => r.integration === integration);
    if (!row || row.jobs !== jobs || Number(row.min_rev) !== 1 || Number(row.max_rev) !== 1) {
      throw new Error(`expected ${jobs} jobs of ${integration}, each replaced once; got ${JSON.stringify(row)}`);
    }
  }
} finally {
  await one.release();
  await pool.release();
}

// record_live.mjs — an employee's page follows its syncs live, and a failed sync
// shows the third party's error and is retried from the page.
//
// Inputs: LOCKSTEP_BASE_URL, LOCKSTEP_SIGN_IN_URL, LOCKSTEP_ADMIN_TOKEN. The test
// set up "Directory" (SCIM, grace period 2 s, behind a proxy that slows every
// request by 1.5 s) and two synced employees, e-1 (Ada) and e-2 (Brian).
//
// 1. e-1's page is open; the scenario PATCHes e-1's first name through the API.
//    Without a reload the badge goes Sync pending (with a countdown) → Syncing →
//    Synced: every status the badge showed is recorded in the page as it comes.
// 2. e-2 is given e-1's email: `userName` is unique in the third party, so the
//    push ends "Sync failed" with its error in the panel and a Retry button.
//    A change to e-2's own mapped fields would make it pending again (and take
//    the Retry button away), so the conflict is resolved where it is: e-1 moves
//    to another email, and once that has synced, Retry pushes e-2 again.

import { scenario, step, launch, checkA11y, shot, input, check, api, waitUntil, expectH1 } from '../lib.mjs';

const baseUrl = input('LOCKSTEP_BASE_URL');
const COUNTDOWN = /^(in \d+:\d{2}(:\d{2})?|now)$/;

// Runs in the page on every load: records each status the record's badge
// shows, in order, in `window.__statuses` (the live updates replace the inside
// of #record-status; the observer sees each replacement).
function recordBadgeStatuses() {
  window.__statuses = [];
  document.addEventListener('DOMContentLoaded', () => {
    const root = document.getElementById('record-status');
    if (!root) return;
    const note = () => {
      const label = root.querySelector('.badge-list strong');
      const text = label ? label.textContent.trim() : '';
      if (text && window.__statuses[window.__statuses.length - 1] !== text) window.__statuses.push(text);
    };
    note();
    new MutationObserver(note).observe(root, { childList: true, subtree: true, characterData: true });
  });
}

const statuses = (page) => page.evaluate(() => window.__statuses);
const badge = (page) => page.locator('#record-status .badge-list');

/** Waits until the badge reads `label` (without reloading the page). */
async function badgeShows(page, label, timeout = 20_000) {
  await badge(page).getByText(label, { exact: true }).waitFor({ timeout });
}

/** Asserts `seen` is exactly `want`. */
function expectStatuses(seen, want, where) {
  check(JSON.stringify(seen) === JSON.stringify(want), `${where}: the badge showed ${JSON.stringify(seen)}, not ${JSON.stringify(want)}`);
  console.log(`  badge: ${seen.join(' → ')}`);
}

async function syncStatus(id) {
  const record = await api('GET', `/v1/records/employee/${id}`);
  return record.sync.integrations[0]?.status;
}

scenario(async () => {
  const context = await launch();
  await context.addInitScript(recordBadgeStatuses);
  const page = await context.newPage();
  const e1 = `${baseUrl}/console/records/employee/e-1`;
  const e2 = `${baseUrl}/console/records/employee/e-2`;

  await step('sign in and open e-1: Synced', async () => {
    await page.goto(input('LOCKSTEP_SIGN_IN_URL'));
    await expectH1(page, 'Employees');
    await page.getByRole('link', { name: 'e-1', exact: true }).click();
    await page.waitForURL(e1);
    await expectH1(page, 'Ada Example e-1');
    await badgeShows(page, 'Synced');
    await checkA11y(page, 'employee e-1, synced');
    await shot(page, 'employee-synced');
  });

  await step('e-1 at phone size', async () => {
    const phone = await launch({ phone: true });
    await phone.addCookies(await context.cookies());
    const phonePage = await phone.newPage();
    await phonePage.goto(e1);
    await expectH1(phonePage, 'Ada Example e-1');
    await checkA11y(phonePage, 'employee e-1 (phone)');
    await shot(phonePage, 'employee-phone');
    await phone.close();
  });

  await step('a write through the API: Sync pending with a countdown, Syncing, Synced, without a reload', async () => {
    await page.evaluate(() => { window.__sameDocument = true; });
    await api('PATCH', '/v1/records/employee/e-1', { first_name: 'Adaline' });
    await badgeShows(page, 'Sync pending', 5_000);
    const countdown = page.locator('#record-status time[data-countdown]');
    await page.waitForFunction(
      (pattern) => new RegExp(pattern).test(document.querySelector('#record-status time[data-countdown]')?.textContent.trim() ?? ''),
      COUNTDOWN.source,
      { timeout: 3_000 },
    );
    console.log(`  countdown: "${(await countdown.textContent()).trim()}"`);
    await shot(page, 'employee-pending');
    await badgeShows(page, 'Syncing', 10_000);
    await checkA11y(page, 'employee e-1, syncing');
    await shot(page, 'employee-syncing');
    await badgeShows(page, 'Synced', 20_000);
    check(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    expectStatuses(await statuses(page), ['Synced', 'Sync pending', 'Syncing', 'Synced'], 'e-1 after the write');
    // The page shows the new name only when loaded again: the live part is the status.
    check((await syncStatus('e-1')) === 'synced', 'the API does not say e-1 is synced');
  });

  await step("e-2 takes e-1's email: Sync failed, the third party's error, and Retry", async () => {
    await page.goto(e2);
    await expectH1(page, 'Brian Example e-2');
    await badgeShows(page, 'Synced');
    await api('PATCH', '/v1/records/employee/e-2', { email: 'e-1@acme.test' });
    await badgeShows(page, 'Sync failed', 20_000);
    expectStatuses(await statuses(page), ['Synced', 'Sync pending', 'Syncing', 'Sync failed'], 'e-2 after the clash');
    const errors = page.getByRole('list', { name: 'Errors from Directory' });
    await errors.waitFor();
    const text = (await errors.textContent()).replace(/\s+/g, ' ').trim();
    console.log(`  the panel's error: ${text}`);
    check(/unique|already|exists|conflict|409/i.test(text), `the panel's error does not say why: "${text}"`);
    await page.getByRole('button', { name: 'Retry' }).waitFor();
    await checkA11y(page, 'employee e-2, sync failed');
    await shot(page, 'employee-failed');
  });

  await step('free the email (e-1 moves, through the API), Retry: Syncing, Synced', async () => {
    await api('PATCH', '/v1/records/employee/e-1', { email: 'ada@acme.test' });
    await waitUntil('e-1 synced with its new email', async () => (await syncStatus('e-1')) === 'synced', { timeout: 20_000 });
    // Still the failed page, still live: nothing moved e-2.
    check((await statuses(page)).at(-1) === 'Sync failed', `e-2's badge moved: ${await statuses(page)}`);
    await Promise.all([page.waitForURL(e2), page.getByRole('button', { name: 'Retry' }).click()]);
    await badgeShows(page, 'Synced', 20_000);
    const seen = await statuses(page);
    console.log(`  after Retry the badge showed: ${seen.join(' → ')}`);
    const order = ['Sync pending', 'Syncing', 'Synced'];
    const positions = seen.map((s) => order.indexOf(s));
    check(
      positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1])) && seen.length >= 2,
      `after Retry the badge showed ${JSON.stringify(seen)}, not pending/syncing then Synced`,
    );
    check((await page.getByRole('list', { name: 'Errors from Directory' }).count()) === 0, 'the error is still shown');
    check((await page.getByRole('button', { name: 'Retry' }).count()) === 0, 'Retry is still offered');
    await checkA11y(page, 'employee e-2, retried');
    await shot(page, 'employee-retried');
  });
});

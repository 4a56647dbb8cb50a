// sync_now_and_settings.mjs — Sync Now in the background: its modal, the bell
// counting the notification live, the notification list, the Sync Log and its
// filters; then Settings refusing an out-of-range value and saving a valid one.
//
// Inputs: LOCKSTEP_BASE_URL, LOCKSTEP_SIGN_IN_URL, LOCKSTEP_ADMIN_TOKEN,
// LOCKSTEP_INTEGRATION_ID. The tenant's background threshold is 0 s, so Sync Now
// goes to the background at once, and the third party answers each request
// after 0.5 s, so the run lasts seconds. "Directory" holds e-1 (unchanged) and e-2
// (renamed since); e-3 is new: the run updates e-2 and creates e-3.

import { scenario, step, launch, checkA11y, shot, input, check, api, expectH1 } from '../lib.mjs';

const baseUrl = input('LOCKSTEP_BASE_URL');
const integrationId = input('LOCKSTEP_INTEGRATION_ID');

/** The bell's count as its text reads ("1 unseen"): the number. */
async function bellCount(page) {
  const text = await page.getByRole('banner').locator('.bell-count').textContent();
  return Number.parseInt(text.trim(), 10);
}

/** Waits, without reloading, until the bell counts `n`. */
async function bellShows(page, n, timeout) {
  await page.waitForFunction(
    (want) => Number.parseInt(document.querySelector('.bell-count')?.textContent.trim() ?? '', 10) === want,
    n,
    { timeout },
  );
}

/** The Sync Log's rows as arrays of their cells' text. */
async function logRows(page) {
  const texts = [];
  for (const row of await page.getByRole('table').getByRole('row').all()) {
    const cells = (await row.getByRole('cell').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    if (cells.length > 0) texts.push(cells);
  }
  return texts;
}

scenario(async () => {
  const page = await (await launch()).newPage();
  let runUrl;

  await step('sign in and open the integration: the bell counts 0', async () => {
    await page.goto(input('LOCKSTEP_SIGN_IN_URL'));
    await expectH1(page, 'Employees');
    await page.goto(`${baseUrl}/console/integrations/${integrationId}`);
    await expectH1(page, 'Directory');
    check((await bellCount(page)) === 0, `the bell counts ${await bellCount(page)} before anything ran`);
  });

  await step('Sync Now: a modal says the sync continues in the background; OK closes it', async () => {
    await Promise.all([
      page.waitForURL(/\/console\/sync-runs\/\d+\?background=1$/),
      page.getByRole('button', { name: 'Sync Now' }).click(),
    ]);
    runUrl = page.url().replace(/\?background=1$/, '');
    const modal = page.getByRole('dialog', { name: 'Sync continues in the background' });
    await modal.waitFor();
    // The run is still going (the third party answers slowly): nothing to count yet.
    await page.locator('#operation-live').getByText('Running', { exact: true }).first().waitFor();
    check((await bellCount(page)) === 0, `the bell counts ${await bellCount(page)} while the run is going`);
    await modal.getByText(/notification when it has finished/).waitFor();
    await checkA11y(page, 'Sync Now modal');
    await shot(page, 'sync-now-modal');
    await modal.getByRole('button', { name: 'OK' }).click();
    await modal.waitFor({ state: 'hidden' });
  });

  await step('the run ends: the bell counts 1 and the log shows Succeeded, without a reload', async () => {
    await page.evaluate(() => { window.__sameDocument = true; });
    await bellShows(page, 1, 20_000);
    await page.locator('#operation-live').getByText('Succeeded', { exact: true }).first().waitFor({ timeout: 10_000 });
    check(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    await checkA11y(page, 'Sync Log after the run');
    await shot(page, 'sync-log-live');
  });

  await step('Notifications lists "Sync complete…"; the bell drops to 0', async () => {
    await page.getByRole('banner').getByRole('link', { name: /Notifications/ }).click();
    await expectH1(page, 'Notifications');
    const item = page.getByRole('link', { name: /^Sync complete/ });
    await item.waitFor();
    console.log(`  notification: ${(await item.textContent()).trim()}`);
    await bellShows(page, 0, 5_000);
    await checkA11y(page, 'notifications');
    await shot(page, 'notifications');
    const unseen = (await api('GET', '/v1/notifications')).unseen_count;
    check(unseen === 0, `the API still counts ${unseen} unseen`);
  });

  await step('the notification leads to the Sync Log; filter it by Failed and Succeeded', async () => {
    await Promise.all([page.waitForURL(runUrl), page.getByRole('link', { name: /^Sync complete/ }).click()]);
    await expectH1(page, /^Sync Log of run \d+$/);
    const all = await logRows(page);
    console.log(`  log: ${JSON.stringify(all)}`);
    check(all.length === 2, `expected two log entries, found ${JSON.stringify(all)}`);
    check(all.some((r) => r[0] === 'e-3' && r[1] === 'Create') && all.some((r) => r[0] === 'e-2' && r[1] === 'Update'), 'the log does not list e-3 created and e-2 updated');
    await checkA11y(page, 'Sync Log');
    await shot(page, 'sync-log');
    const filters = page.getByRole('navigation', { name: 'Filter the log by outcome' });
    await Promise.all([page.waitForURL(`${runUrl}?outcome=failed`), filters.getByRole('link', { name: 'Failed' }).click()]);
    await page.getByText('No entries here.').waitFor();
    check((await page.getByRole('table').count()) === 0, 'the Failed filter shows a table');
    await checkA11y(page, 'Sync Log, failed');
    await shot(page, 'sync-log-failed');
    await Promise.all([page.waitForURL(`${runUrl}?outcome=succeeded`), filters.getByRole('link', { name: 'Succeeded' }).click()]);
    const succeeded = await logRows(page);
    check(succeeded.length === 2 && succeeded.every((r) => r[2].endsWith('Succeeded')), `the Succeeded filter shows ${JSON.stringify(succeeded)}`);
    await checkA11y(page, 'Sync Log, succeeded');
  });

  await step('Settings: an email delay out of range is refused, nothing saved', async () => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Settings' }).click();
    await expectH1(page, 'Settings');
    const before = (await api('GET', '/v1/settings')).email_delay_seconds;
    await checkA11y(page, 'settings');
    const delay = page.getByLabel('Email delay (seconds)');
    await delay.fill('700000');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('alert').getByText('Nothing was saved').waitFor();
    await page.getByText('Email delay must be between 0 and 604800').waitFor();
    check((await delay.getAttribute('aria-invalid')) === 'true', 'the field is not marked invalid');
    check((await delay.inputValue()) === '700000', `the field lost what was typed: ${await delay.inputValue()}`);
    const after = (await api('GET', '/v1/settings')).email_delay_seconds;
    check(after === before, `an out-of-range delay changed the setting: ${before} → ${after}`);
    await checkA11y(page, 'settings refused');
    await shot(page, 'settings-refused');
  });

  await step('Settings: a valid email delay is saved', async () => {
    const delay = page.getByLabel('Email delay (seconds)');
    await delay.fill('120');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').getByText('Settings saved.').waitFor();
    check((await page.getByText('Nothing was saved').count()) === 0, 'the page still says nothing was saved');
    const saved = (await api('GET', '/v1/settings')).email_delay_seconds;
    check(saved === 120, `the API says the delay is ${saved}`);
    await checkA11y(page, 'settings saved');
    await shot(page, 'settings-saved');
  });
});

// overview.mjs — a Sync Overview run from the integration's page, its summary and
// changes filtered by action, and its "no longer valid" page once another admin
// has run a newer one.
//
// Inputs: LOCKSTEP_BASE_URL, LOCKSTEP_SIGN_IN_URL, LOCKSTEP_ADMIN_TOKEN,
// LOCKSTEP_INTEGRATION_ID. The tenant's background threshold is 60 s, so the
// overview finishes within the request. "Directory" holds e-1 (unchanged) and
// e-2 (renamed Brian → Bryan since); e-3 is new: one Update, one Create.

import { scenario, step, launch, checkA11y, shot, input, check, api, expectH1 } from '../lib.mjs';

const baseUrl = input('LOCKSTEP_BASE_URL');
const integrationId = input('LOCKSTEP_INTEGRATION_ID');

/** The changes table's rows, as arrays of their cells' text (header row left out). */
async function changeRows(page) {
  const rows = page.getByRole('table').getByRole('row');
  const texts = [];
  for (const row of await rows.all()) {
    const cells = (await row.getByRole('cell').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    if (cells.length > 0) texts.push(cells);
  }
  return texts;
}

/** The summary's count for `label`, e.g. "Create". */
async function summaryCount(page, label) {
  const items = await page.getByRole('region', { name: 'Summary' }).getByRole('listitem').allTextContents();
  const item = items.map((t) => t.replace(/\s+/g, ' ').trim()).find((t) => t.startsWith(`${label}:`));
  check(item, `no "${label}" in the summary: ${JSON.stringify(items)}`);
  return Number(item.slice(label.length + 1).trim());
}

scenario(async () => {
  const page = await (await launch()).newPage();
  let overviewUrl;

  await step('sign in and open the integration', async () => {
    await page.goto(input('LOCKSTEP_SIGN_IN_URL'));
    await expectH1(page, 'Employees');
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Integrations' }).click();
    await expectH1(page, 'Integrations');
    await checkA11y(page, 'integrations');
    await shot(page, 'integrations');
    await page.getByRole('link', { name: 'Directory' }).click();
    await page.waitForURL(`${baseUrl}/console/integrations/${integrationId}`);
    await expectH1(page, 'Directory');
    await checkA11y(page, 'integration');
    await shot(page, 'integration');
  });

  await step('Run Sync Overview: it finishes in the request and shows its Summary and changes', async () => {
    await Promise.all([
      page.waitForURL(/\/console\/overviews\/\d+$/),
      page.getByRole('button', { name: 'Run Sync Overview' }).click(),
    ]);
    overviewUrl = page.url();
    await expectH1(page, /^Sync Overview \d+$/);
    check((await page.locator('dialog[open]').count()) === 0, 'a background modal opened for an overview done in the request');
    await page.getByRole('heading', { level: 2, name: 'Summary' }).waitFor();
    check((await summaryCount(page, 'Create')) === 1, 'the summary does not count one Create');
    check((await summaryCount(page, 'Update')) === 1, 'the summary does not count one Update');
    const rows = await changeRows(page);
    console.log(`  changes: ${JSON.stringify(rows)}`);
    check(rows.length === 2, `expected two changes, found ${JSON.stringify(rows)}`);
    await page.getByRole('button', { name: 'Apply' }).waitFor();
    await checkA11y(page, 'overview');
    await shot(page, 'overview');
  });

  await step('filter the changes by action: Update, then Create', async () => {
    const filters = page.getByRole('navigation', { name: 'Filter changes by action' });
    await Promise.all([page.waitForURL(`${overviewUrl}?action=update`), filters.getByRole('link', { name: 'Update' }).click()]);
    check((await filters.getByRole('link', { name: 'Update' }).getAttribute('aria-current')) === 'page', 'Update is not marked current');
    const updates = await changeRows(page);
    check(
      updates.length === 1 && updates[0][0] === 'e-2' && updates[0][1] === 'Update' && /Brian.*Bryan/.test(updates[0][2]),
      `the Update filter shows ${JSON.stringify(updates)}`,
    );
    await checkA11y(page, 'overview, updates');
    await shot(page, 'overview-updates');
    await Promise.all([page.waitForURL(`${overviewUrl}?action=create`), filters.getByRole('link', { name: 'Create' }).click()]);
    const creates = await changeRows(page);
    check(creates.length === 1 && creates[0][0] === 'e-3' && creates[0][1] === 'Create', `the Create filter shows ${JSON.stringify(creates)}`);
    await checkA11y(page, 'overview, creates');
    await shot(page, 'overview-creates');
  });

  await step('another admin runs an overview; reloaded, the page says this one is no longer valid', async () => {
    const other = await api('POST', '/v1/admins', { email: 'bea@acme.test', name: 'Bea' });
    check(other?.token, `POST /v1/admins answered no token: ${JSON.stringify(other)}`);
    await api('POST', `/v1/integrations/${integrationId}/overviews`, {}, { token: other.token });
    await page.goto(overviewUrl);
    await expectH1(page, 'Sync Overview data no longer valid');
    await page.getByText(/A newer Sync Overview/).first().waitFor();
    await page.getByRole('button', { name: 'Run a new Sync Overview' }).waitFor();
    check((await page.getByRole('table').count()) === 0, 'a no-longer-valid overview still shows a changes table');
    check((await page.getByRole('heading', { name: 'Summary' }).count()) === 0, 'a no-longer-valid overview still shows its Summary');
    check((await page.getByRole('button', { name: 'Apply' }).count()) === 0, 'a no-longer-valid overview can still be applied');
    await checkA11y(page, 'overview no longer valid');
    await shot(page, 'overview-no-longer-valid');
  });

  await step('Run a new Sync Overview from there shows a valid one', async () => {
    await Promise.all([
      page.waitForURL((url) => /\/console\/overviews\/\d+$/.test(url.pathname) && url.href !== overviewUrl),
      page.getByRole('button', { name: 'Run a new Sync Overview' }).click(),
    ]);
    await expectH1(page, /^Sync Overview \d+$/);
    check((await changeRows(page)).length === 2, 'the new overview does not show the two changes');
  });
});

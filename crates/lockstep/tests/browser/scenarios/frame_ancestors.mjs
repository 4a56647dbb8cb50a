// frame_ancestors.mjs — only the origins in `console.frame_ancestors` may frame the console.
//
// Inputs: LOCKSTEP_BASE_URL (the `lockstep serve` under test), LOCKSTEP_EMBED_PORT
// (the port the test listed: `http://127.0.0.1:<port>` is the one allowed origin),
// and two fresh sign-in links, LOCKSTEP_SIGN_IN_URL and LOCKSTEP_SECOND_SIGN_IN_URL.
// A page served on the listed port frames the first link: the console signs in
// inside the frame and shows Employees. A page on another port frames the second
// link: Chromium refuses the frame (CSP `frame-ancestors`), so the frame ends on
// Chromium's error page and never shows the console. Both page servers are
// stopped at the end.

import { scenario, step, launch, shot, servePage, input, check } from '../lib.mjs';

const baseUrl = input('LOCKSTEP_BASE_URL');
const listedPort = Number(input('LOCKSTEP_EMBED_PORT'));
const FRAME = 'iframe[title="Lockstep console"]';

function embeddingPage(src) {
  const attribute = src.replaceAll('&', '&amp;').replaceAll('"', '&quot;');
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>A platform that embeds Lockstep</title></head>
<body>
<main>
<h1>A platform</h1>
<iframe title="Lockstep console" src="${attribute}" width="1200" height="760"></iframe>
</main>
</body>
</html>`;
}

scenario(async () => {
  const listed = await servePage(listedPort, embeddingPage(input('LOCKSTEP_SIGN_IN_URL')));
  const unlisted = await servePage(0, embeddingPage(input('LOCKSTEP_SECOND_SIGN_IN_URL')));

  await step('a page on the listed origin frames the console, signed in', async () => {
    const page = await (await launch()).newPage();
    await page.goto(listed.url);
    await page.frameLocator(FRAME).getByRole('heading', { level: 1, name: 'Employees' }).waitFor();
    const frame = await (await page.locator(FRAME).elementHandle()).contentFrame();
    check(frame.url().startsWith(`${baseUrl}/console/`), `the frame shows ${frame.url()}`);
    await shot(page, 'listed-origin');
  });

  await step('a page on an origin not listed cannot frame the console', async () => {
    const page = await (await launch()).newPage();
    const refusals = [];
    page.on('console', (message) => {
      if (message.text().includes('frame-ancestors')) refusals.push(message.text().trim());
    });
    // `load` waits for the frame too, whether the console or an error page.
    await page.goto(unlisted.url, { waitUntil: 'load' });
    const frame = await (await page.locator(FRAME).elementHandle()).contentFrame();
    check(frame, 'the embedding page has no frame');
    check(!frame.url().startsWith(baseUrl), `the console loaded in a frame it should refuse: ${frame.url()}`);
    const shown = await frame.getByRole('heading', { name: 'Employees' }).count();
    check(shown === 0, `the refused frame shows the Employees heading (${frame.url()})`);
    console.log(`  the frame ended at ${frame.url()}; Chromium said: ${refusals.join(' / ') || '(nothing)'}`);
    await shot(page, 'unlisted-origin');
  });

  await step('stop the page servers', async () => {
    await listed.close();
    await unlisted.close();
  });
});

// sign_in_once.mjs — a console sign-in link works once, and signing out ends the session.
//
// Inputs: LOCKSTEP_BASE_URL (the `lockstep serve` under test) and LOCKSTEP_SIGN_IN_URL
// (a fresh link from `POST /v1/console/sessions`). Opening the link signs in
// through 303 redirects to the Employees page and sets the `lockstep_console`
// cookie (HttpOnly, SameSite=Lax); the same link again, a forged link and a page
// without a session each show their own page and set no cookie; the header's
// Sign out button ends the session on the server, not only in this browser.
// Every page passes checkA11y and is screenshot (Employees also at phone size).

import { scenario, step, launch, checkA11y, shot, input, check } from '../lib.mjs';

const COOKIE = 'lockstep_console';
const baseUrl = input('LOCKSTEP_BASE_URL');
const signInUrl = input('LOCKSTEP_SIGN_IN_URL');

/** Asserts the page has exactly one h1, reading `text`. */
async function expectH1(page, text) {
  const h1 = page.getByRole('heading', { level: 1 });
  await h1.first().waitFor();
  const texts = (await h1.allTextContents()).map((t) => t.trim());
  check(texts.length === 1 && texts[0] === text, `expected one h1 "${text}" at ${page.url()}, found ${JSON.stringify(texts)}`);
}

async function sessionCookie(context) {
  return (await context.cookies()).find((c) => c.name === COOKIE);
}

/** Opens `url` in a fresh context; answers its page, context and the final response. */
async function openFresh(url, options) {
  const context = await launch(options);
  const page = await context.newPage();
  const response = await page.goto(url);
  return { context, page, response };
}

scenario(async () => {
  const context = await launch();
  const page = await context.newPage();
  let employeesUrl;

  await step('the sign-in link lands on the Employees page through 303 redirects', async () => {
    const response = await page.goto(signInUrl);
    check(response.ok(), `the page after signing in answered ${response.status()} at ${page.url()}`);
    let first = response.request();
    while (first.redirectedFrom()) first = first.redirectedFrom();
    const firstStatus = (await first.response()).status();
    check(first.url() === signInUrl, `the first request was ${first.url()}`);
    check(firstStatus === 303, `opening the sign-in link answered ${firstStatus}, not 303`);
    check(page.url().startsWith(`${baseUrl}/console/`), `landed outside the console: ${page.url()}`);
    employeesUrl = page.url();
    check((await page.title()).includes('Employees'), `title is "${await page.title()}"`);
    await expectH1(page, 'Employees');
  });

  await step('the session cookie is HttpOnly and SameSite=Lax', async () => {
    const cookie = await sessionCookie(context);
    check(cookie, `no ${COOKIE} cookie after signing in; cookies: ${JSON.stringify(await context.cookies())}`);
    check(cookie.httpOnly, `${COOKIE} is not HttpOnly`);
    check(cookie.sameSite === 'Lax', `${COOKIE} is SameSite=${cookie.sameSite}`);
  });

  await step('the page has a banner with the bell and Sign out, and a main landmark', async () => {
    const banner = page.getByRole('banner');
    check((await banner.count()) === 1, `expected one banner (<header>), found ${await banner.count()}`);
    await banner.getByRole('link', { name: /Notifications/ }).first().waitFor();
    await banner.getByRole('button', { name: 'Sign out' }).waitFor();
    const main = page.getByRole('main');
    check((await main.count()) === 1, `expected one main landmark, found ${await main.count()}`);
    await checkA11y(page, 'Employees');
    await shot(page, 'employees');
  });

  await step('the Employees page at phone size', async () => {
    const phone = await launch({ phone: true });
    await phone.addCookies(await context.cookies());
    const phonePage = await phone.newPage();
    await phonePage.goto(employeesUrl);
    await expectH1(phonePage, 'Employees');
    await checkA11y(phonePage, 'Employees (phone)');
    await shot(phonePage, 'employees-phone');
    await phone.close();
  });

  await step('the same link again shows "Sign-in link already used" and signs nobody in', async () => {
    const again = await openFresh(signInUrl);
    await expectH1(again.page, 'Sign-in link already used');
    check(!(await sessionCookie(again.context)), `a used link set ${COOKIE}`);
    await checkA11y(again.page, 'link already used');
    await shot(again.page, 'link-already-used');
    await again.context.close();
  });

  await step('a forged link shows "Sign-in link not valid" and signs nobody in', async () => {
    const forged = new URL(signInUrl);
    forged.searchParams.set('link', 'forged');
    const opened = await openFresh(forged.href);
    await expectH1(opened.page, 'Sign-in link not valid');
    check(!(await sessionCookie(opened.context)), `a forged link set ${COOKIE}`);
    await checkA11y(opened.page, 'link not valid');
    await shot(opened.page, 'link-not-valid');
    await opened.context.close();
  });

  await step('a console page without a session answers 401 "Not signed in"', async () => {
    const opened = await openFresh(`${baseUrl}/console/records/employee`);
    check(opened.response.status() === 401, `answered ${opened.response.status()}, not 401`);
    await expectH1(opened.page, 'Not signed in');
    await checkA11y(opened.page, 'not signed in');
    await shot(opened.page, 'not-signed-in');
    await opened.context.close();
  });

  await step('Sign out ends the session', async () => {
    const cookiesBefore = await context.cookies();
    const signOut = page.getByRole('banner').getByRole('button', { name: 'Sign out' });
    await Promise.all([page.waitForNavigation(), signOut.click()]);
    await checkA11y(page, 'after signing out');
    await shot(page, 'signed-out');
    const response = await page.goto(employeesUrl);
    check(response.status() === 401, `the Employees page after signing out answered ${response.status()}`);
    await expectH1(page, 'Not signed in');
    // The server must forget the session, not only this browser its cookie.
    const replay = await launch();
    await replay.addCookies(cookiesBefore);
    const replayPage = await replay.newPage();
    const replayed = await replayPage.goto(employeesUrl);
    check(replayed.status() === 401, `the cookie from before signing out still answers ${replayed.status()}`);
    await expectH1(replayPage, 'Not signed in');
    await replay.close();
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { adminToken } from './support/auth.ts';
import { startTestServer, type TestServer } from './support/server.ts';

/**
 * GraphiQL in a real browser: Debian's Chromium (scripts/ensureChromium.sh installs it before
 * `npm test`) driven by playwright-core. Everything GraphiQL needs is inlined in the page the
 * server renders, so this runs without any outside network.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server: TestServer;
let profile: string;
let browser: BrowserContext;
let page: Page;
const webSockets: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  // A fresh profile: GraphiQL keeps tabs in local storage, and the test wants the default ones.
  profile = await mkdtemp(path.join(os.tmpdir(), 'graphiql-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    // Tall enough that Monaco renders every line of the results this test reads.
    viewport: { width: 1600, height: 2000 },
  });
  // GraphiQL keeps tabs and their edits in local storage: each test starts from the default tabs.
  await browser.addInitScript(() => localStorage.clear());
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('websocket', (socket) => webSockets.push(socket.url()));
});

/** Loads GraphiQL afresh (no tabs or edits left by another test) and waits for its tabs. */
async function openGraphiQL() {
  webSockets.length = 0;
  const response = await page.goto(server.url, { waitUntil: 'load' });
  await page.locator('.graphiql-tab-button').first().waitFor();
  return response;
}

beforeEach(({ task, onTestFailed }) => {
  onTestFailed(async () => {
    // What the page showed is the quickest way to see why a browser test failed.
    const file = path.join(os.tmpdir(), `graphiql-failure-${task.name.replace(/\W+/g, '-')}.png`);
    await page.screenshot({ path: file });
    console.error(`GraphiQL screenshot of the failure: ${file}`);
  });
});

afterAll(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await server?.close();
});

const gql = async (query: string, variables?: Record<string, unknown>) => {
  const result = await server.gql(query, variables);
  expect(result.errors).toBeUndefined();
  return result.data;
};

const ADD_ITEM = `mutation Add($input: AddItemToCartInput!) {
  addItemToCart(input: $input) { __typename ... on AddItemToCartSuccess { cart { version } } }
}`;
const addItem = (cartId: string, sku: string, quantity: number) =>
  gql(ADD_ITEM, { input: { cartId, sku, name: sku, unitPrice: { amount: 250, currency: 'EUR' }, quantity } });

/** The text of a Monaco editor: its rendered lines in order (Monaco positions them absolutely). */
async function editorText(section: string): Promise<string> {
  // The visible one: the variables and headers editors share a section, and only one of them shows.
  return page.locator(`section[aria-label="${section}"] .view-lines`).filter({ visible: true }).first().evaluate((element) =>
    Array.from(element.querySelectorAll<HTMLElement>('.view-line'))
      .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
      .map((line) => (line.textContent ?? '').replace(/\u00a0/g, ' '))
      .join('\n'),
  );
}

/** Waits until the result pane holds JSON that `accept` takes, and returns it. */
async function waitForResult<T>(accept: (result: any) => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    last = await editorText('Result Window');
    try {
      const accepted = accept(JSON.parse(last));
      if (accepted !== undefined) return accepted;
    } catch {
      // Not JSON (yet): empty, or still rendering.
    }
    if (Date.now() > deadline) throw new Error(`the result pane never showed the expected result; it shows:\n${last}`);
    await page.waitForTimeout(100);
  }
}

async function openTab(name: string): Promise<void> {
  // The tabs sit in a drag-to-reorder list whose pointer handling swallows a synthetic mouse click
  // in headless Chromium; the keyboard (focus, Enter) is the other way a user picks a tab.
  await page.locator('.graphiql-tab-button', { hasText: new RegExp(`^${name}$`) }).focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.locator('.graphiql-tab-active .graphiql-tab-button').textContent()).toBe(name);
  // The editor shows the tab's operation once the switch has gone through; run nothing before that.
  await expect.poll(() => editorText('Operation Editor')).toMatch(new RegExp(`^(query|mutation|subscription) ${name}\\b`, 'm'));
  // GraphiQL takes the operation to run from its tab state, which follows the editor a moment later:
  // run before that and it answers "Cannot infer operation" with the previous tab's name.
  await expect.poll(() => activeOperationName()).toBe(name);
}

/** The operation name GraphiQL will run, from the tab state it keeps in localStorage. */
async function activeOperationName(): Promise<string | null | undefined> {
  const stored = await page.evaluate(() => localStorage.getItem('graphiql:tabState'));
  if (!stored) return undefined;
  const state = JSON.parse(stored) as { activeTabIndex: number; tabs: { operationName?: string | null }[] };
  return state.tabs[state.activeTabIndex]?.operationName;
}

async function replaceEditorText(section: string, text: string): Promise<void> {
  await page.locator(`section[aria-label="${section}"] .graphiql-editor:not(.hidden) .monaco-editor`).first().click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  // insertText arrives as one input, so the editor's bracket and quote auto-closing stays out of it.
  await page.keyboard.insertText(text);
}

const run = () => page.locator('button[aria-label^="Execute query"]').click();

describe('GraphiQL in a browser', () => {
  it('opens on /graphql with the example tabs and the documented schema', async () => {
    const response = await openGraphiQL();
    expect(response?.headers()['content-type']).toContain('text/html');
    const tabs = await page.locator('.graphiql-tab-button').allTextContents();
    expect(tabs).toEqual(expect.arrayContaining(['RecentEvents', 'StreamHistory', 'CartAsOfVersion', 'LiveCartEvents']));

    await page.locator('button[aria-label="Show Documentation Explorer"]').click();
    await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().click();
    // The explorer lists Query's fields with their descriptions, read from the schema by introspection.
    await expect.poll(() => page.locator('.graphiql-doc-explorer').textContent()).toContain('One counter from the projection');
    await page.locator('button[aria-label="Hide Documentation Explorer"]').click();
  });

  it('opens with the admin token in its headers and sends it with operations, and in its WebSocket connection params', async () => {
    // What the page's WebSockets send, recorded in the page itself (from here on, for every page load).
    await page.addInitScript(() => {
      const sent: string[] = ((window as unknown as { wsSent: string[] }).wsSent = []);
      const send = WebSocket.prototype.send;
      WebSocket.prototype.send = function (this: WebSocket, data: Parameters<WebSocket['send']>[0]) {
        if (typeof data === 'string') sent.push(data);
        return send.call(this, data);
      };
    });
    const connectionInits = async () =>
      (await page.evaluate(() => (window as unknown as { wsSent: string[] }).wsSent))
        .map((data) => JSON.parse(data) as { type: string; payload?: unknown })
        .filter((message) => message.type === 'connection_init')
        .map((message) => message.payload);

    await openGraphiQL();
    await openTab('IncrementCounter');
    await page.getByRole('button', { name: 'Headers', exact: true }).click();
    await expect.poll(() => editorText('Headers')).toContain(`"Authorization": "Bearer ${adminToken}"`);
    const counterId = `graphiql-${Date.now()}`;
    await page.getByRole('button', { name: 'Variables', exact: true }).click();
    await replaceEditorText('Variables', JSON.stringify({ counterId }));
    await run();
    await waitForResult((result) => (result?.data?.incrementCounter?.__typename === 'IncrementCounterSuccess' ? true : undefined));
    const history = await gql(`query($id: ID!) { stream(id: $id) { events { edges { node { metadata { actor } } } } } }`, { id: counterId });
    expect(history.stream.events.edges.map((edge: any) => edge.node.metadata.actor)).toEqual(['test-admin']);

    // Afresh: run straight after a tab switch, GraphiQL may still name the previous tab's operation.
    await openGraphiQL();
    await openTab('LiveCartEvents');
    await run();
    await expect.poll(connectionInits, { timeout: 20_000 }).toEqual([{ authorization: `Bearer ${adminToken}` }]);
  });

  it("runs a stream's history and shows its events", async () => {
    const opened = await gql(`mutation { openCart(input: { customerId: "browser" }) { ... on OpenCartSuccess { cart { id: cartId } } } }`);
    const cartId: string = opened.openCart.cart.id;
    await addItem(cartId, 'COFFEE', 2);
    await addItem(cartId, 'TEA', 1);

    await openGraphiQL();
    await openTab('StreamHistory');
    await replaceEditorText('Variables', JSON.stringify({ id: cartId }));
    await run();
    const stream = await waitForResult((result) => result?.data?.stream ?? undefined);
    expect(stream).toMatchObject({ streamId: cartId, type: 'Cart', version: 3 });
    expect(stream.events.edges.map((edge: any) => [edge.node.version, edge.node.type, edge.node.sku ?? null])).toEqual([
      [1, 'CartOpened', null],
      [2, 'CartItemAdded', 'COFFEE'],
      [3, 'CartItemAdded', 'TEA'],
    ]);
  });

  it('runs a subscription over the WebSocket and shows an event pushed by a mutation made elsewhere', async () => {
    const opened = await gql(`mutation { openCart(input: { customerId: "live" }) { ... on OpenCartSuccess { cart { id: cartId } } } }`);
    const cartId: string = opened.openCart.cart.id;
    const subscribersBefore = server.app.feed.subscriberCount;

    await openGraphiQL();
    await openTab('LiveCartEvents');
    await run();
    await expect.poll(() => server.app.feed.subscriberCount, { timeout: 20_000 }).toBeGreaterThan(subscribersBefore);
    expect(webSockets).toContain(server.wsUrl);

    await addItem(cartId, 'BISCUITS', 4);
    const pushed = await waitForResult((result) => (result?.data?.events?.streamId === cartId ? result.data.events : undefined));
    expect(pushed).toMatchObject({ __typename: 'CartItemAdded', type: 'CartItemAdded', streamId: cartId, version: 2, sku: 'BISCUITS', quantity: 4 });
  });
});

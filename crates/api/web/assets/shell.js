// What every view shares: who is signed in, the namespaces they may use and the one the page
// works in (kept in the address as `?ns=NAME`, so a reload or a shared address keeps it), the
// message carried to the next page, and showing a page.

import { ApiError, call, setNamespace } from './api.js';
import { clear, notice } from './views.js';

export const state = {
  session: null, // the dashboard session (SessionInfo)
  namespaces: [], // [{name, organisation, role}], the caller's own first
  current: null, // the one the page works in
  flash: null, // {kind, text}, shown atop the next page
};

const main = document.getElementById('main');
let router = () => {};
let chrome = () => {};

// What redraws the header (the switcher and the menu) when the namespaces change.
export function setChromeUpdater(fn) {
  chrome = fn;
}

export function setRouter(fn) {
  router = fn;
}

export function route() {
  return router();
}

export function setFlash(kind, text) {
  state.flash = { kind, text };
}

export function show(...children) {
  clear(main);
  if (state.flash) {
    main.append(notice(state.flash.kind, state.flash.text));
    state.flash = null;
  }
  main.append(...children);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

// A failure as a notice to show; a lost session (401) goes back to the sign-in page instead
// (and answers null).
export function failed(e, where) {
  if (e instanceof ApiError && e.status === 401 && state.session) {
    state.session = null;
    setFlash('error', e.message);
    route();
    return null;
  }
  return notice('error', where ? `${where}: ${e.message}` : e.message);
}

// Shows `e` at the top of the page (for actions whose page has no status line of its own).
export function failedOnTop(e) {
  const shown = failed(e);
  if (shown) main.prepend(shown);
}

const WRITERS = new Set(['writer', 'admin', 'owner']);
const ADMINS = new Set(['admin', 'owner']);

// May the session change things in the working namespace (its role, and not a read-only key)?
export function canWrite(ns = state.current) {
  return Boolean(state.session && ns && !state.session.read_only && WRITERS.has(ns.role));
}

// May it manage the namespace (members, the log)?
export function canAdmin(ns = state.current) {
  return Boolean(state.session && ns && ADMINS.has(ns.role));
}

export function isOwn(ns = state.current) {
  return !ns || (!ns.organisation && ns.name === state.session?.user);
}

// The namespace as the page names it: "your objects" or the organisation's name.
export function nsName(ns = state.current) {
  return ns ? ns.name : state.session?.user || '';
}

export function wantedNamespace() {
  return new URLSearchParams(location.search).get('ns');
}

// Reads the namespaces the caller may use; a server that does not know namespaces yet answers
// the caller's own only.
export async function loadNamespaces() {
  let list = [];
  try {
    list = await call('GET', '/api/v1/namespaces');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    if (!(e instanceof ApiError && (e.status === 404 || e.status === 405))) console.warn('namespaces:', e.message);
  }
  if (!Array.isArray(list) || list.length === 0) {
    list = [{ name: state.session.user, organisation: false, role: 'owner' }];
  }
  state.namespaces = list;
  pickNamespace();
  chrome();
}

// After a refusal in an organisation's namespace: reads the namespaces again, and answers true
// when the page's namespace is no longer one the caller may use (the page then shows their own,
// saying why).
export async function lostNamespace(e) {
  if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 403) || isOwn()) return false;
  const before = state.current?.name;
  try {
    await loadNamespaces();
  } catch {
    return false;
  }
  return state.current?.name !== before;
}

// Chooses the working namespace from the address; one the caller may not use (never existed,
// deleted, or their membership ended) is said so, and the page falls back to their own.
export function pickNamespace() {
  const wanted = wantedNamespace();
  const own = state.namespaces.find((n) => !n.organisation && n.name === state.session.user) || state.namespaces[0];
  let found = wanted ? state.namespaces.find((n) => n.name === wanted) : own;
  if (!found) {
    setFlash('error', `You cannot use a namespace named “${wanted}” (it does not exist, or you are not a member); showing ${own.organisation ? own.name : 'your own'}.`);
    const url = new URL(location.href);
    url.searchParams.delete('ns');
    history.replaceState(null, '', url);
    found = own;
  }
  state.current = found;
  setNamespace(isOwn(found) ? null : found.name);
}

// The address of `hash` in namespace `name` (the caller's own when it is theirs).
export function nsHref(name, hash) {
  const url = new URL(location.href);
  if (!name || name === state.session?.user) url.searchParams.delete('ns');
  else url.searchParams.set('ns', name);
  url.hash = hash;
  return url.pathname + url.search + url.hash;
}

// Works in namespace `name` from now on, at `hash`.
export function switchNamespace(name, hash) {
  history.pushState(null, '', nsHref(name, hash));
  pickNamespace();
  route();
}

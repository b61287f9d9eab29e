// Teams: organisations and their members, share links (made from an object or a version, listed
// and revoked per namespace), and a namespace's audit log.

import { ApiError, call, seg, withNs } from './api.js';
import {
  canWrite, failed, failedOnTop, isOwn, loadNamespaces, nsHref, nsName, route, setFlash, show, state, switchNamespace,
} from './shell.js';
import { clear, confirmDialog, copyButton, h, modal, notice, relative, when } from './views.js';

const ROLES = ['reader', 'writer', 'admin'];
const ROLE_HELP = {
  reader: 'lists, reads metadata, downloads',
  writer: 'also uploads, edits, deletes and shares',
  admin: 'also manages members and links, and reads the log',
};

// A link to `hash` in namespace `name` that switches without reloading the page.
function nsLink(name, hash, text, attrs = {}) {
  return h('a', { ...attrs, href: nsHref(name, hash), text, onclick: (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    switchNamespace(name, hash);
  } });
}

// After an organisation went away (or the caller left it): the caller's own namespace if the
// page worked in it, the namespaces read again, then `hash`.
async function leaveTo(org, hash) {
  const url = new URL(location.href);
  if (url.searchParams.get('ns') === org) url.searchParams.delete('ns');
  url.hash = hash;
  history.pushState(null, '', url);
  try {
    await loadNamespaces();
  } catch (e) {
    failedOnTop(e);
  }
  route();
}

// ---------------------------------------------------------------- organisations

export async function orgsView() {
  let orgs;
  try {
    // Memberships change elsewhere: the switcher reads them again here.
    [orgs] = await Promise.all([call('GET', '/api/v1/orgs'), loadNamespaces()]);
  } catch (e) {
    const shown = failed(e);
    if (shown) show(h('h1', { text: 'Organisations' }), shown);
    return;
  }
  const member = (name) => state.namespaces.some((n) => n.name === name);
  const table = orgs.length
    ? h('div', { class: 'table-wrap' }, h('table', { id: 'orgs' },
      h('thead', {}, h('tr', {}, [['Name'], ['Your role'], ['Members', 'num'], ['Objects', 'num'], ['Created', 'hide-narrow'], ['']]
        .map(([t, c]) => h('th', { scope: 'col', class: c, text: t })))),
      h('tbody', {}, orgs.map((o) => h('tr', { 'data-org': o.name },
        h('td', { class: 'name' }, h('a', { href: `#/org/${seg(o.name)}`, text: o.name })),
        h('td', { text: o.role || 'server administrator' }),
        h('td', { class: 'num', text: Number(o.members).toLocaleString() }),
        h('td', { class: 'num', text: Number(o.objects).toLocaleString() }),
        h('td', { class: 'hide-narrow', text: when(o.created_at) }),
        h('td', {}, member(o.name) ? nsLink(o.name, '#/objects', 'Open objects', { class: 'open-org' }) : null))))))
    : h('p', { class: 'muted', id: 'no-orgs', text: 'You are in no organisation yet. Create one, or ask an organisation’s admin to add you.' });

  const parts = [h('h1', { text: 'Organisations' }),
    h('p', { class: 'muted', text: 'An organisation is a namespace a team shares: its objects, quota, share links and log belong to it, and each member has a role.' }),
    table];
  if (!state.session.read_only) {
    const name = h('input', { type: 'text', id: 'org-name', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. vision-team' });
    const status = h('div', { 'aria-live': 'polite' });
    const button = h('button', { type: 'submit', id: 'create-org-button', text: 'Create organisation' });
    const form = h('form', { class: 'card', id: 'create-org' }, h('h2', { text: 'Create an organisation' }),
      h('label', { for: 'org-name', text: 'Name' }), name,
      h('p', { class: 'muted', text: 'Organisations and users share one set of names. You become its admin.' }),
      h('div', { class: 'actions' }, button), status);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      button.disabled = true;
      clear(status);
      try {
        const made = await call('POST', '/api/v1/orgs', { name: name.value.trim() });
        await loadNamespaces();
        setFlash('ok', `Created the organisation “${made.name}”; you are its admin.`);
        location.hash = `#/org/${seg(made.name)}`;
      } catch (e) {
        const shown = failed(e);
        if (shown) status.append(shown);
        button.disabled = false;
      }
    });
    parts.push(form);
  }
  show(...parts);
}

// One member's row; `last` is the organisation's only admin, whom no one may remove or demote.
function memberRow(org, m, manage, last) {
  const self = m.user === state.session.user;
  let role;
  if (manage) {
    role = h('select', { class: 'member-role', 'aria-label': `Role of ${m.user}`, disabled: last,
      title: last ? 'The only admin: make another member admin first' : undefined },
      ROLES.map((r) => h('option', { value: r, selected: r === m.role, text: r })));
    role.addEventListener('change', async () => {
      const wanted = role.value;
      role.disabled = true;
      try {
        await call('PUT', `/api/v1/orgs/${seg(org)}/members/${seg(m.user)}`, { role: wanted });
        setFlash('ok', `${m.user} is now ${wanted === 'admin' ? 'an' : 'a'} ${wanted} of ${org}.`);
        if (self) await loadNamespaces();
        route();
      } catch (e) {
        role.value = m.role;
        role.disabled = false;
        failedOnTop(e);
      }
    });
  } else {
    role = h('span', { class: 'badge role', text: m.role });
  }
  const remove = (manage || self) && !last
    ? h('button', { type: 'button', class: 'danger small member-remove', 'aria-label': self ? `Leave ${org}` : `Remove ${m.user}`,
      text: self ? 'Leave…' : 'Remove…', onclick: () => removeMember(org, m.user) })
    : null;
  return h('tr', { 'data-user': m.user },
    h('td', { class: 'name' }, m.user, self ? h('span', { class: 'muted', text: ' (you)' }) : null),
    h('td', {}, role),
    h('td', { class: 'hide-narrow', text: when(m.added_at) }),
    h('td', { class: 'name', text: m.added_by }),
    h('td', {}, remove));
}

async function removeMember(org, user) {
  const self = user === state.session.user;
  const ok = await confirmDialog(self ? `Leave ${org}?` : `Remove ${user}?`,
    self ? `You lose access to ${org}’s objects at once; an admin must add you again to undo it.`
      : `${user} loses access to ${org}’s objects at once, on every server instance. Their keys and share links made there stop working for it.`,
    self ? 'Leave' : 'Remove');
  if (!ok) return;
  try {
    await call('DELETE', `/api/v1/orgs/${seg(org)}/members/${seg(user)}`);
  } catch (e) {
    failedOnTop(e);
    return;
  }
  if (self) {
    setFlash('ok', `You left ${org}.`);
    await leaveTo(org, '#/orgs');
    return;
  }
  setFlash('ok', `Removed ${user} from ${org}.`);
  route();
}

function addMemberForm(org, members) {
  const user = h('input', { type: 'text', id: 'member-user', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'user name' });
  const role = h('select', { id: 'member-role' }, ROLES.map((r) => h('option', { value: r, text: `${r}: ${ROLE_HELP[r]}` })));
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', id: 'add-member-button', text: 'Add member' });
  const form = h('form', { class: 'card', id: 'add-member' }, h('h2', { text: 'Add a member' }),
    h('div', { class: 'grid2' },
      h('div', {}, h('label', { for: 'member-user', text: 'User' }), user),
      h('div', {}, h('label', { for: 'member-role', text: 'Role' }), role)),
    h('div', { class: 'actions' }, button), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = user.value.trim();
    button.disabled = true;
    clear(status);
    try {
      await call('PUT', `/api/v1/orgs/${seg(org)}/members/${seg(name)}`, { role: role.value });
      const known = members.some((m) => m.user === name);
      setFlash('ok', known ? `${name} is now ${role.value === 'admin' ? 'an' : 'a'} ${role.value} of ${org}.` : `Added ${name} to ${org} as ${role.value}.`);
      route();
    } catch (e) {
      const shown = failed(e);
      if (shown) status.append(shown);
      button.disabled = false;
    }
  });
  return form;
}

function deleteOrgCard(org, info) {
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'danger', id: 'delete-org', text: 'Delete organisation…' });
  const objects = Number(info?.objects || 0);
  const ask = (count) => confirmDialog(`Delete ${org}?`,
    count > 0
      ? `“${org}” holds ${count.toLocaleString()} object${count === 1 ? '' : 's'}: ${count === 1 ? 'it is' : 'they are'} deleted with it, with every version and share link. Every member loses access at once. This cannot be undone.`
      : `“${org}” holds no objects. Every member loses access at once, and its name becomes free. This cannot be undone.`,
    'Delete organisation', { typeToConfirm: org });
  button.addEventListener('click', async () => {
    clear(status);
    if (!(await ask(objects))) return;
    let force = objects > 0;
    for (;;) {
      try {
        await call('DELETE', `/api/v1/orgs/${seg(org)}${force ? '?force=true' : ''}`);
        break;
      } catch (e) {
        // Objects arrived since the page was drawn: say so, and ask again.
        if (e instanceof ApiError && e.status === 409 && !force) {
          if (!(await confirmDialog(`${org} holds objects now`, `${e.message}. Delete the organisation with its objects?`, 'Delete with its objects', { typeToConfirm: org }))) return;
          force = true;
          continue;
        }
        const shown = failed(e);
        if (shown) status.append(shown);
        return;
      }
    }
    setFlash('ok', `Deleted the organisation “${org}”${force ? ' and its objects' : ''}.`);
    await leaveTo(org, '#/orgs');
  });
  return h('div', { class: 'card', id: 'delete-org-card' }, h('h2', { text: 'Delete the organisation' }),
    h('p', { class: 'muted', text: objects > 0 ? `It holds ${objects.toLocaleString()} object${objects === 1 ? '' : 's'}, which would be deleted with it.` : 'It holds no objects.' }),
    button, status);
}

export async function orgView(org) {
  let orgs;
  let members;
  try {
    [orgs, members] = await Promise.all([call('GET', '/api/v1/orgs'), call('GET', `/api/v1/orgs/${seg(org)}/members`)]);
  } catch (e) {
    const shown = failed(e);
    if (shown) show(h('h1', { text: org }), shown, h('p', {}, h('a', { href: '#/orgs', text: 'All organisations' })));
    return;
  }
  const info = orgs.find((o) => o.name === org);
  const role = info?.role || null;
  const manage = !state.session.read_only && (role === 'admin' || (!role && state.session.admin));
  const isMember = state.namespaces.some((n) => n.name === org);
  members = [...members].sort((a, b) => ROLES.indexOf(b.role) - ROLES.indexOf(a.role) || a.user.localeCompare(b.user));
  const admins = members.filter((m) => m.role === 'admin').length;
  const links = isMember ? h('p', { class: 'org-links' },
    nsLink(org, '#/objects', 'Objects'), ' · ',
    canWrite(state.namespaces.find((n) => n.name === org)) ? [nsLink(org, '#/links', 'Share links'), ' · '] : null,
    role === 'admin' ? [nsLink(org, '#/log', 'Audit log'), ' · '] : null,
    h('a', { href: '#/orgs', text: 'All organisations' })) : h('p', {}, h('a', { href: '#/orgs', text: 'All organisations' }));
  const summary = h('p', { class: 'muted', id: 'org-summary',
    text: `${role ? `Your role: ${role}` : 'You are not a member (server administrator)'} · ${members.length} member${members.length === 1 ? '' : 's'} · ${Number(info?.objects || 0).toLocaleString()} object${Number(info?.objects) === 1 ? '' : 's'} · created ${when(info?.created_at)}` });
  const table = h('div', { class: 'table-wrap' }, h('table', { id: 'members' },
    h('caption', { class: 'skip', text: `Members of ${org}` }),
    h('thead', {}, h('tr', {}, [['User'], ['Role'], ['Added', 'hide-narrow'], ['By'], ['']].map(([t, c]) => h('th', { scope: 'col', class: c, text: t })))),
    h('tbody', {}, members.map((m) => memberRow(org, m, manage, m.role === 'admin' && admins === 1)))));
  const parts = [h('h1', { text: org }), summary, links, h('h2', { text: 'Members' }), table];
  if (admins === 1) parts.push(h('p', { class: 'muted', text: 'An organisation keeps at least one admin: make another member admin before the last one leaves.' }));
  if (manage) parts.push(addMemberForm(org, members), deleteOrgCard(org, info));
  show(...parts);
}

// ---------------------------------------------------------------- share links

const EXPIRIES = [[3600, '1 hour'], [86400, '1 day'], [7 * 86400, '7 days'], [30 * 86400, '30 days']];

// The dialog that makes a link to `name` (a fixed `version`, or the latest when it is used) in
// the working namespace, and shows it once.
export function shareDialog(name, version) {
  const namespace = isOwn() ? null : nsName();
  const expiry = h('select', { id: 'share-expiry' },
    EXPIRIES.map(([secs, text]) => h('option', { value: String(secs), selected: secs === 7 * 86400, text })));
  const status = h('div', { id: 'share-status', 'aria-live': 'polite' });
  const create = h('button', { type: 'button', id: 'share-create', text: 'Create link' });
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'share-cancel', text: 'Cancel' });
  const what = version ? `version ${version} of “${name}”` : `“${name}” (the latest version when the link is used)`;
  const form = h('div', { class: 'share-form' },
    h('p', { text: `Anyone with the link can download ${what}${namespace ? ` from ${namespace}` : ''} without a key, until it expires or is revoked.` }),
    h('label', { for: 'share-expiry', text: 'Expires after' }), expiry,
    h('div', { class: 'actions' }, cancel, create));
  const dialog = modal(version ? `Share “${name}” v${version}` : `Share “${name}”`, form, status);
  cancel.addEventListener('click', () => dialog.close());
  create.addEventListener('click', async () => {
    create.disabled = true;
    clear(status);
    const body = { name, expires_in: Number(expiry.value) };
    if (namespace) body.namespace = namespace;
    if (version) body.version = version;
    try {
      const made = await call('POST', '/api/v1/shares', body);
      const close = h('button', { type: 'button', class: 'secondary', id: 'share-close', text: 'Close', onclick: () => dialog.close() });
      form.replaceWith(h('div', { class: 'share-made' },
        notice('ok', `Link created; it expires ${when(made.share.expires_at)} (${relative(made.share.expires_at)}). It is shown only now: copy it.`),
        h('div', { class: 'snippet-row' }, h('code', { class: 'secret', id: 'share-url', text: made.url }), copyButton(made.url, 'Copy link')),
        h('p', { class: 'muted', text: `curl -fLO works with it too. Id ${made.share.id}: revoke it from “Share links”.` }),
        h('div', { class: 'actions' },
          h('a', { href: '#/links', id: 'share-all', text: 'All share links', onclick: () => dialog.close() }), close)));
      close.focus();
    } catch (e) {
      create.disabled = false;
      const shown = failed(e);
      if (shown) status.append(shown);
    }
  });
  create.focus();
}

export async function linksView() {
  const title = isOwn() ? 'Your share links' : `Share links of ${nsName()}`;
  let shares;
  try {
    shares = await call('GET', withNs('/api/v1/shares'));
  } catch (e) {
    const shown = failed(e);
    if (shown) show(h('h1', { text: title }), shown);
    return;
  }
  shares = [...shares].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  const writer = canWrite();
  const body = shares.length
    ? h('div', { class: 'table-wrap' }, h('table', { id: 'shares' },
      h('thead', {}, h('tr', {}, [['Id', 'hide-narrow'], ['Object'], ['Version'], ['Created by', 'hide-narrow'], ['Created', 'hide-narrow'], ['Expires'], ['Uses', 'num'], ['']]
        .map(([t, c]) => h('th', { scope: 'col', class: c, text: t })))),
      h('tbody', {}, shares.map((s) => h('tr', { 'data-share': s.id },
        h('td', { class: 'mono nowrap hide-narrow', text: s.id }),
        h('td', { class: 'name' }, h('a', { href: `#/object/${seg(s.name)}`, text: s.name })),
        h('td', { text: s.version ? `v${s.version}` : 'latest' }),
        h('td', { class: 'hide-narrow', text: s.created_by }),
        h('td', { class: 'hide-narrow', text: when(s.created_at) }),
        h('td', { title: s.expires_at, text: `${when(s.expires_at)} (${relative(s.expires_at)})` }),
        h('td', { class: 'num', text: Number(s.uses).toLocaleString() }),
        h('td', {}, writer ? h('button', { type: 'button', class: 'danger small share-revoke', 'aria-label': `Revoke link ${s.id}`, text: 'Revoke…',
          onclick: () => revokeShare(s) }) : null))))))
    : h('p', { class: 'muted', id: 'no-shares', text: 'No live links. Open an object and choose “Share link…” to make one.' });
  show(h('h1', { text: title }),
    h('p', { class: 'muted', text: 'Links that download an object without a key. Expired and revoked links are not listed; the link itself was shown only when it was made.' }),
    body);
}

async function revokeShare(s) {
  const ok = await confirmDialog('Revoke this link?', `Link ${s.id} to “${s.name}”${s.version ? ` v${s.version}` : ''} stops working at once, even for a download under way.`, 'Revoke');
  if (!ok) return;
  try {
    await call('DELETE', `/api/v1/shares/${seg(s.id)}`);
    setFlash('ok', `Revoked link ${s.id}.`);
    route();
  } catch (e) {
    failedOnTop(e);
  }
}

// ---------------------------------------------------------------- audit log

const LOG_PAGE = 50;

export async function logView() {
  const title = isOwn() ? 'Your audit log' : `Audit log of ${nsName()}`;
  const tbody = h('tbody', {});
  const older = h('button', { type: 'button', class: 'secondary', id: 'log-older', text: 'Older entries', hidden: true });
  const status = h('div', { 'aria-live': 'polite' });
  const info = h('span', { class: 'muted', id: 'log-info' });
  let shown = 0;
  let before = null;
  const load = async () => {
    older.disabled = true;
    let page;
    try {
      page = await call('GET', withNs('/api/v1/log', { limit: LOG_PAGE, before }));
    } catch (e) {
      const failure = failed(e);
      if (failure) clear(status).append(failure);
      older.disabled = false;
      return false;
    }
    for (const entry of page.entries) {
      tbody.append(h('tr', { 'data-action': entry.action },
        h('td', { class: 'nowrap', title: entry.at, text: when(entry.at) }),
        h('td', { class: 'name', text: entry.actor }),
        h('td', { class: 'mono nowrap hide-narrow', text: entry.key_id }),
        h('td', {}, h('span', { class: `badge action action-${entry.action}`, text: entry.action })),
        h('td', { class: 'name', text: entry.target }),
        h('td', { class: 'name', text: entry.detail })));
    }
    shown += page.entries.length;
    before = page.next;
    older.hidden = !page.next;
    older.disabled = false;
    info.textContent = shown ? `${shown.toLocaleString()} entr${shown === 1 ? 'y' : 'ies'} shown, newest first` : '';
    return true;
  };
  older.addEventListener('click', load);
  const table = h('div', { class: 'table-wrap' }, h('table', { id: 'log' },
    h('thead', {}, h('tr', {}, [['Time'], ['Who'], ['Key', 'hide-narrow'], ['Action'], ['Target'], ['Detail']].map(([t, c]) => h('th', { scope: 'col', class: c, text: t })))),
    tbody));
  show(h('h1', { text: title }),
    h('p', { class: 'muted', text: 'Who uploaded, overwrote, deleted, edited, shared, unshared, added or removed whom, when, and with which key.' }),
    table, h('div', { class: 'pager' }, older, info), status);
  if ((await load()) && shown === 0) {
    table.replaceWith(h('p', { class: 'muted', id: 'log-empty', text: 'Nothing logged yet.' }));
  }
}

// The dashboard: sign-in, the objects of a namespace (search, sort, pages, usage), one object
// (metadata, files, versions, download, share, edit, delete, snippets), upload, API keys (scoped
// to namespaces), organisations and their members, share links, the audit log, and for
// administrators the users. Routes live in the URL's fragment (#/objects, #/object/NAME, …); the
// namespace the page works in is its query (`?ns=NAME`), kept by every route.

import { ApiError, call, lastPart, seg, setCsrf, withNs } from './api.js';
import { clear, confirmDialog, copyButton, h, metadataEditor, notice, size, splitTags, tagChips, when } from './views.js';
import { downloadLeftover, upload } from './upload.js';
import { listZip } from './zip.js';
import {
  canAdmin, canWrite, failed, failedOnTop, isOwn, loadNamespaces, lostNamespace, nsHref, nsName, pickNamespace, route,
  setChromeUpdater, setFlash, setRouter, show, state, switchNamespace,
} from './shell.js';
import { linksView, logView, orgView, orgsView, shareDialog } from './teams.js';
import { usageLine, versionsCard } from './versions.js';

const main = document.getElementById('main');

const PAGE = 50;

function shellQuote(text) {
  return /^[A-Za-z0-9._\/-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function pyString(text) {
  return JSON.stringify(text);
}

// The header: who is signed in, the namespace switcher with the caller's role there, and the
// menu (what the role may not do is not offered).
function setChrome() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const switcher = document.getElementById('ns-switch');
  const session = state.session;
  nav.hidden = !session;
  who.hidden = !session;
  switcher.hidden = !session;
  if (!session) return;
  document.getElementById('who-name').textContent = session.user;
  document.getElementById('who-access').textContent = session.read_only ? 'read-only' : 'read-write';
  const select = document.getElementById('namespace');
  clear(select);
  for (const ns of state.namespaces) {
    select.append(h('option', { value: ns.name, selected: ns === state.current,
      text: ns.organisation ? `${ns.name} (${ns.role})` : `${ns.name} (yours)` }));
  }
  select.disabled = state.namespaces.length < 2;
  const role = state.current?.role || 'owner';
  const access = session.read_only && role !== 'reader' ? `${role}, read-only key` : role;
  document.getElementById('ns-role').textContent = access;
  for (const a of nav.querySelectorAll('[data-admin]')) a.hidden = !session.admin;
  for (const a of nav.querySelectorAll('[data-write]')) a.hidden = !canWrite();
  for (const a of nav.querySelectorAll('[data-ns-admin]')) a.hidden = !canAdmin();
  const view = (location.hash.split('/')[1] || 'objects').split('?')[0];
  const current = { object: 'objects', org: 'orgs' }[view] || view;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.view === current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---------------------------------------------------------------- sign-in

function signInView() {
  const key = h('input', { type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', id: 'sign-in', text: 'Sign in' });
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: 'Sign in' }),
    h('p', { class: 'muted', text: 'Use an API key: `fedml admin key create --user NAME` makes one, or ask your administrator.' }),
    h('label', { for: 'api-key', text: 'API key' }), key,
    h('div', { class: 'actions' }, button), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    clear(status);
    try {
      state.session = await call('POST', '/api/v1/session', { api_key: key.value.trim() });
      setCsrf(state.session.csrf_token);
      key.value = '';
      await loadNamespaces();
      if (!location.hash || location.hash === '#/' || location.hash === '#/signin') location.hash = '#/objects';
      else route();
    } catch (e) {
      state.session = null;
      status.append(notice('error', e.message));
    } finally {
      button.disabled = false;
    }
  });
  show(form);
  key.focus();
}

// ---------------------------------------------------------------- objects

let cursors = { key: '', stack: [], total: null };

async function objectsView(params) {
  const q = params.get('q') || '';
  const sort = params.get('sort') || 'name';
  const order = params.get('order') || (sort === 'name' ? 'asc' : 'desc');
  const listingKey = `${nsName()}\u0000${q}\u0000${sort}\u0000${order}`;
  if (cursors.key !== listingKey) cursors = { key: listingKey, stack: [], total: null };
  const after = cursors.stack[cursors.stack.length - 1];

  const search = h('input', { type: 'search', id: 'search', value: q, placeholder: 'name or tag', autocomplete: 'off' });
  const sortSelect = h('select', { id: 'sort' },
    ['name', 'size', 'updated'].map((s) => h('option', { value: s, selected: s === sort, text: s === 'updated' ? 'Updated' : s[0].toUpperCase() + s.slice(1) })));
  const orderSelect = h('select', { id: 'order' },
    h('option', { value: 'asc', selected: order === 'asc', text: 'Ascending' }),
    h('option', { value: 'desc', selected: order === 'desc', text: 'Descending' }));
  const go = (next) => {
    const p = new URLSearchParams();
    if (next.q) p.set('q', next.q);
    if (next.sort !== 'name') p.set('sort', next.sort);
    if (next.order !== (next.sort === 'name' ? 'asc' : 'desc')) p.set('order', next.order);
    const text = p.toString();
    location.hash = `#/objects${text ? `?${text}` : ''}`;
  };
  let timer;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => go({ q: search.value.trim(), sort, order }), 300);
  });
  sortSelect.addEventListener('change', () => go({ q, sort: sortSelect.value, order: sortSelect.value === 'name' ? 'asc' : 'desc' }));
  orderSelect.addEventListener('change', () => go({ q, sort, order: orderSelect.value }));

  const toolbar = h('div', { class: 'toolbar', role: 'search' },
    h('div', { class: 'grow' }, h('label', { for: 'search', text: 'Search by name or tag' }), search),
    h('div', {}, h('label', { for: 'sort', text: 'Sort by' }), sortSelect),
    h('div', {}, h('label', { for: 'order', text: 'Order' }), orderSelect));
  const body = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted', text: 'Loading…' }));
  const title = isOwn() ? 'Your objects' : `Objects in ${nsName()}`;
  const usage = h('p', { class: 'muted usage', id: 'usage' });
  show(h('h1', { text: title }), usage, toolbar, body);
  if (q) search.focus();
  usageLine(usage);

  let page;
  try {
    page = await call('GET', withNs('/api/v1/objects', { limit: PAGE, sort, order, q, after }));
  } catch (e) {
    if (await lostNamespace(e)) return route();
    const shown = failed(e);
    if (shown) clear(body).append(shown);
    return;
  }
  if (typeof page.total === 'number') cursors.total = page.total;
  clear(body);
  if (page.objects.length === 0) {
    const cli = isOwn() ? 'fedml storage upload PATH' : `fedml storage upload PATH --namespace ${shellQuote(nsName())}`;
    body.append(h('p', { class: 'muted', text: q ? `Nothing matches “${q}”.`
      : canWrite() ? `Nothing stored yet. Upload a file or a folder, or run \`${cli}\`.` : 'Nothing stored yet.' }));
    return;
  }
  const rows = page.objects.map((o) => h('tr', {},
    h('td', { class: 'name' }, h('a', { href: `#/object/${seg(o.dataName)}`, text: o.dataName })),
    h('td', { text: o.kind }),
    h('td', { class: 'num', text: size(o.size) }),
    h('td', { class: 'hide-narrow', text: o.description }),
    h('td', {}, tagChips(o.tags)),
    h('td', { class: 'hide-narrow', text: when(o.updatedAt) })));
  const first = cursors.stack.length * PAGE + 1;
  const last = first + page.objects.length - 1;
  const prev = h('button', { type: 'button', class: 'secondary', text: 'Previous', disabled: cursors.stack.length === 0 });
  const next = h('button', { type: 'button', class: 'secondary', text: 'Next', disabled: !page.next });
  prev.addEventListener('click', () => { cursors.stack.pop(); route(); });
  next.addEventListener('click', () => { cursors.stack.push(page.next); route(); });
  body.append(
    h('div', { class: 'table-wrap' }, h('table', { id: 'objects' },
      h('caption', { class: 'skip', text: title }),
      h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Size', 'Description', 'Tags', 'Updated'].map((t, i) =>
        h('th', { scope: 'col', class: i === 3 || i === 5 ? 'hide-narrow' : undefined, text: t })))),
      h('tbody', {}, rows))),
    h('div', { class: 'pager' }, prev, next,
      h('span', { class: 'muted', id: 'page-info', text: `${first.toLocaleString()}–${last.toLocaleString()} of ${Number(cursors.total ?? last).toLocaleString()}` })));
}

// ---------------------------------------------------------------- one object

async function objectView(name) {
  let meta;
  try {
    meta = await call('GET', withNs(`/api/v1/objects/${seg(name)}`));
  } catch (e) {
    if (await lostNamespace(e)) return route();
    const shown = failed(e);
    if (shown) show(h('h1', { text: name }), shown, h('p', {}, h('a', { href: '#/objects', text: isOwn() ? 'Back to your objects' : `Back to ${nsName()}` })));
    return;
  }
  const writer = canWrite();
  const downloadName = meta.kind === 'directory' ? `${lastPart(meta.dataName)}.zip` : lastPart(meta.dataName);
  const details = h('dl', { class: 'meta' },
    [['Namespace', nsName()], ['Kind', meta.kind], ['Version', String(meta.version ?? 1)], ['Size', meta.size < 1024 ? size(meta.size) : `${size(meta.size)} (${Number(meta.size).toLocaleString()} bytes)`], ['Service', meta.service],
      ['Checksum', meta.checksum], ['Created', when(meta.createdAt)], ['Updated', when(meta.updatedAt)],
      ['Description', meta.description || '—']].map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]),
    h('dt', { text: 'Tags' }), h('dd', {}, meta.tags.length ? tagChips(meta.tags) : '—'));
  const entries = Object.entries(meta.userMetadata || {});
  const userMeta = entries.length
    ? h('div', { class: 'table-wrap' }, h('table', { id: 'user-metadata' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Key' }), h('th', { scope: 'col', text: 'Value' }))),
      h('tbody', {}, entries.map(([k, v]) => h('tr', {}, h('td', { class: 'name', text: k }), h('td', { class: 'name', text: v }))))))
    : h('p', { class: 'muted', text: 'No user-defined metadata.' });
  const download = h('a', { class: 'button', id: 'download', href: meta.downloadUrl, download: downloadName, rel: 'noopener',
    text: meta.kind === 'directory' ? 'Download (.zip)' : 'Download' });
  const share = writer
    ? h('button', { type: 'button', class: 'secondary', id: 'share', text: 'Share link…', onclick: () => shareDialog(meta.dataName, null) })
    : null;
  const cli = `fedml storage download ${shellQuote(meta.dataName)}${isOwn() ? '' : ` --namespace ${shellQuote(nsName())}`}`;
  const py = `import fedml\nfedml.api.download(${pyString(meta.dataName)}${isOwn() ? '' : `, namespace=${pyString(nsName())}`})`;
  const snippets = h('div', { class: 'card' }, h('h2', { text: 'Fetch it from code' }),
    h('div', { class: 'snippet-row' }, h('pre', { class: 'snippet', id: 'cli-snippet', code: cli }), copyButton(cli)),
    h('div', { class: 'snippet-row' }, h('pre', { class: 'snippet', id: 'python-snippet', code: py }), copyButton(py)));
  const files = h('div', { class: 'card', id: 'files' }, h('h2', { text: 'Files inside' }), h('p', { class: 'muted', text: 'Reading the archive’s index…' }));

  const versions = h('div', { class: 'card', id: 'versions' }, h('h2', { text: 'Versions' }), h('p', { class: 'muted', text: 'Loading…' }));
  const parts = [h('h1', { text: meta.dataName }),
    h('div', { class: 'card' }, details, h('div', { class: 'actions' }, download, share)),
    h('div', { class: 'card' }, h('h2', { text: 'User-defined metadata' }), userMeta)];
  if (meta.kind === 'directory') parts.push(files);
  parts.push(versions, snippets);
  if (writer) parts.push(editForm(meta), deleteCard(meta));
  show(...parts);
  versionsCard(versions, meta);

  if (meta.kind === 'directory' && meta.downloadUrl) {
    try {
      const listing = await listZip(meta.downloadUrl, meta.size);
      clear(files).append(h('h2', { text: `Files inside (${listing.count.toLocaleString()})` }),
        h('div', { class: 'table-wrap' }, h('table', { id: 'file-list' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Path' }), h('th', { scope: 'col', text: 'Size' }))),
          h('tbody', {}, listing.files.map((f) => h('tr', {}, h('td', { class: 'name', text: f.path }), h('td', { class: 'num', text: size(f.size) })))))),
        ...(listing.more ? [h('p', { class: 'muted', text: `The first ${listing.files.length.toLocaleString()} are shown.` })] : []));
    } catch (e) {
      clear(files).append(h('h2', { text: 'Files inside' }), notice('error', `cannot read the archive’s index: ${e.message}`));
    }
  }
}

function editForm(meta) {
  const description = h('textarea', { id: 'edit-description' });
  description.value = meta.description;
  const tags = h('input', { type: 'text', id: 'edit-tags', value: meta.tags.join(', ') });
  const metadata = metadataEditor(meta.userMetadata);
  const status = h('div', { 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', id: 'save', text: 'Save changes' });
  const form = h('form', { class: 'card', id: 'edit' }, h('h2', { text: 'Edit' }),
    h('label', { for: 'edit-description', text: 'Description' }), description,
    h('label', { for: 'edit-tags', text: 'Tags (comma-separated)' }), tags,
    h('label', { text: 'User-defined metadata' }), metadata,
    h('div', { class: 'actions' }, save), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    save.disabled = true;
    clear(status);
    try {
      await call('PATCH', withNs(`/api/v1/objects/${seg(meta.dataName)}`), {
        description: description.value, tags: splitTags(tags.value), user_metadata: metadata.read(),
      });
      setFlash('ok', 'Saved.');
      route();
    } catch (e) {
      const shown = failed(e);
      if (shown) status.append(shown);
      save.disabled = false;
    }
  });
  return form;
}

function deleteCard(meta) {
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'danger', id: 'delete', text: 'Delete…' });
  button.addEventListener('click', async () => {
    const where = isOwn() ? '' : ` from ${nsName()}`;
    const ok = await confirmDialog('Delete this object?', `“${meta.dataName}” (${size(meta.size)}) will be deleted${where} with all its versions, and its share links stop working. This cannot be undone.`, 'Delete');
    if (!ok) return;
    try {
      await call('DELETE', withNs(`/api/v1/objects/${seg(meta.dataName)}`));
      setFlash('ok', `Deleted “${meta.dataName}”.`);
      location.hash = '#/objects';
    } catch (e) {
      const shown = failed(e);
      if (shown) status.append(shown);
    }
  });
  return h('div', { class: 'card' }, h('h2', { text: 'Delete' }),
    h('p', { class: 'muted', text: 'Deletes the name with every version. To remove one version, use its “Remove” above.' }), button, status);
}

// ---------------------------------------------------------------- upload

async function walkEntry(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ path: prefix + entry.name, file });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walkEntry(child, `${prefix}${entry.name}/`, out);
    }
  }
}

function uploadView() {
  // The namespace chosen when the page was opened is where the upload goes.
  const target = isOwn() ? null : nsName();
  let picked = null; // {name, directory, entries}
  const fileInput = h('input', { type: 'file', id: 'file-input', class: 'skip', tabindex: '-1', 'aria-hidden': 'true' });
  const folderInput = h('input', { type: 'file', id: 'folder-input', class: 'skip', tabindex: '-1', 'aria-hidden': 'true', webkitdirectory: true, multiple: true });
  const chosen = h('p', { class: 'muted', id: 'chosen', 'aria-live': 'polite', text: 'Nothing chosen yet.' });
  const name = h('input', { type: 'text', id: 'upload-name', required: true });
  const description = h('textarea', { id: 'upload-description' });
  const tags = h('input', { type: 'text', id: 'upload-tags', placeholder: 'e.g. train, v2' });
  const metadata = metadataEditor();
  const overwrite = h('input', { type: 'checkbox', id: 'upload-overwrite' });
  // A new version keeps the description, tags and metadata left empty, unless asked to clear them.
  const clearEmpty = h('input', { type: 'checkbox', id: 'upload-clear-empty' });
  const clearLabel = h('label', { class: 'check', for: 'upload-clear-empty', hidden: true }, clearEmpty,
    'Clear the description, tags and metadata left empty (else the new version keeps those of the one it replaces)');
  overwrite.addEventListener('change', () => { clearLabel.hidden = !overwrite.checked; });
  const start = h('button', { type: 'submit', id: 'start-upload', text: 'Upload', disabled: true });
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'cancel-upload', text: 'Cancel', hidden: true });
  const bar = h('progress', { id: 'upload-progress', max: '1', value: '0', hidden: true, 'aria-label': 'Upload progress' });
  const progressText = h('p', { class: 'muted', id: 'upload-rate', 'aria-live': 'polite' });
  const status = h('div', { id: 'upload-status', 'aria-live': 'polite' });

  const choose = (value) => {
    if (value.directory) value.entries = value.entries.filter((e) => !downloadLeftover(e.path));
    picked = value;
    const total = value.entries.reduce((n, e) => n + e.file.size, 0);
    chosen.textContent = value.directory
      ? `Folder “${value.name}”: ${value.entries.length.toLocaleString()} files, ${size(total)}`
      : `File “${value.name}”: ${size(total)}`;
    name.value = value.name;
    start.disabled = false;
  };
  fileInput.addEventListener('change', () => {
    const file = fileInput.files[0];
    if (file) choose({ name: file.name, directory: false, entries: [{ path: file.name, file }] });
  });
  folderInput.addEventListener('change', () => {
    const files = [...folderInput.files];
    if (files.length === 0) return;
    const top = files[0].webkitRelativePath.split('/')[0];
    const entries = files.map((file) => ({ path: file.webkitRelativePath.split('/').slice(1).join('/'), file }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    choose({ name: top, directory: true, entries });
  });
  const drop = h('div', { class: 'drop', id: 'drop-zone' },
    h('p', { text: 'Drop a file or a folder here, or' }),
    h('div', { class: 'actions', style: undefined },
      h('button', { type: 'button', class: 'secondary', id: 'pick-file', text: 'Choose a file', onclick: () => fileInput.click() }),
      h('button', { type: 'button', class: 'secondary', id: 'pick-folder', text: 'Choose a folder', onclick: () => folderInput.click() })),
    fileInput, folderInput, chosen);
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const item = [...e.dataTransfer.items].find((i) => i.kind === 'file');
    const entry = item?.webkitGetAsEntry?.();
    if (entry?.isDirectory) {
      const out = [];
      await walkEntry(entry, '', out);
      const entries = out.map((x) => ({ path: x.path.split('/').slice(1).join('/'), file: x.file }))
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      choose({ name: entry.name, directory: true, entries });
    } else {
      const file = e.dataTransfer.files[0];
      if (file) choose({ name: file.name, directory: false, entries: [{ path: file.name, file }] });
    }
  });

  let controller = null;
  cancel.addEventListener('click', () => controller?.abort());
  const form = h('form', { class: 'card', id: 'upload-form' },
    drop,
    h('label', { for: 'upload-name', text: 'Name' }), name,
    h('label', { for: 'upload-description', text: 'Description' }), description,
    h('label', { for: 'upload-tags', text: 'Tags (comma-separated)' }), tags,
    h('label', { text: 'User-defined metadata' }), metadata,
    h('label', { class: 'check', for: 'upload-overwrite' }, overwrite, 'Replace an object of the same name'),
    clearLabel,
    h('div', { class: 'actions' }, start, cancel), bar, progressText, status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!picked) return;
    clear(status);
    controller = new AbortController();
    start.disabled = true;
    cancel.hidden = false;
    bar.hidden = false;
    const total = picked.entries.reduce((n, e) => n + e.file.size, 0) || 1;
    const began = performance.now();
    // What is left empty is not sent (kept by an overwrite), unless it is to be cleared.
    const given = (value, empty) => (empty && !(overwrite.checked && clearEmpty.checked) ? undefined : value);
    const tagList = splitTags(tags.value);
    const userMetadata = metadata.read();
    try {
      const done = await upload({
        name: name.value.trim(), entries: picked.entries, directory: picked.directory,
        description: given(description.value, description.value === ''),
        tags: given(tagList, tagList.length === 0),
        metadata: given(userMetadata, Object.keys(userMetadata).length === 0),
        overwrite: overwrite.checked, service: state.session.default_service, signal: controller.signal,
        namespace: target,
        onProgress: ({ read, sent }) => {
          const seconds = Math.max(0.001, (performance.now() - began) / 1000);
          bar.value = Math.min(1, sent / total);
          progressText.textContent = `${size(sent)} sent of ${size(total)} (read ${size(read)}) · ${size(sent / seconds)}/s`;
        },
      });
      bar.value = 1;
      status.append(notice('ok', `Stored “${done.object.dataName}” (${size(done.object.size)}).`),
        h('p', {}, h('a', { href: nsHref(target, `#/object/${seg(done.object.dataName)}`), text: 'Open it' })));
    } catch (e) {
      if (e.name === 'AbortError') status.append(notice('info', 'Upload cancelled; nothing was stored.'));
      else {
        const shown = failed(e, 'The upload failed and nothing was stored');
        if (shown) status.append(shown);
      }
    } finally {
      controller = null;
      start.disabled = false;
      cancel.hidden = true;
    }
  });
  show(h('h1', { text: isOwn() ? 'Upload' : `Upload to ${nsName()}` }), form);
}

// ---------------------------------------------------------------- API keys

function keyScope(k) {
  return k.namespaces && k.namespaces.length ? k.namespaces.join(', ') : 'all';
}

function keysTable(keys, onRevoke) {
  const session = state.session;
  return h('div', { class: 'table-wrap' }, h('table', { id: 'keys' },
    h('thead', {}, h('tr', {}, ['Id', 'Label', 'Access', 'Namespaces', 'Created', 'Status', ''].map((t) => h('th', { scope: 'col', class: t === 'Created' ? 'hide-narrow' : undefined, text: t })))),
    h('tbody', {}, keys.map((k) => h('tr', {},
      h('td', { class: 'name', text: k.id }), h('td', { class: 'name', text: k.label }),
      h('td', { text: k.read_only ? 'read-only' : 'read-write' }),
      h('td', { class: 'name key-namespaces', text: keyScope(k) }),
      h('td', { class: 'hide-narrow', text: when(k.created_at) }),
      h('td', { text: k.revoked_at ? `revoked ${when(k.revoked_at)}` : (k.id === session.key_id ? 'active (this session)' : 'active') }),
      h('td', {}, !k.revoked_at && !session.read_only
        ? h('button', { type: 'button', class: 'danger small', 'aria-label': `Revoke key ${k.id}`, text: 'Revoke', onclick: () => onRevoke(k) })
        : null))))));
}

async function revokeKey(k) {
  const self = k.id === state.session.key_id;
  const ok = await confirmDialog('Revoke this key?', `Key ${k.id}${k.label ? ` (“${k.label}”)` : ''} stops working at once${self ? ', and this session ends' : ''}.`, 'Revoke');
  if (!ok) return;
  try {
    await call('DELETE', `/api/v1/keys/${seg(k.id)}`);
    setFlash('ok', `Revoked key ${k.id}.`);
    if (self) {
      state.session = null;
      setChrome();
    }
    route();
  } catch (e) {
    failedOnTop(e);
  }
}

async function keysView() {
  let keys;
  try {
    keys = await call('GET', '/api/v1/keys');
  } catch (e) {
    const shown = failed(e);
    if (shown) show(h('h1', { text: 'API keys' }), shown);
    return;
  }
  const parts = [h('h1', { text: 'API keys' }), keysTable(keys, revokeKey)];
  if (!state.session.read_only) {
    const label = h('input', { type: 'text', id: 'key-label', placeholder: 'e.g. laptop, CI' });
    const readOnly = h('input', { type: 'checkbox', id: 'key-read-only' });
    const created = h('div', { id: 'new-key', 'aria-live': 'polite' });
    // A key can be limited to some of the caller's namespaces; none ticked is all of them.
    const boxes = state.namespaces.map((ns, i) => {
      const box = h('input', { type: 'checkbox', id: `key-ns-${i}`, class: 'key-ns', value: ns.name });
      return h('label', { class: 'check', for: `key-ns-${i}` }, box,
        ns.organisation ? `${ns.name} (${ns.role})` : `${ns.name} (yours)`);
    });
    const scope = h('fieldset', { class: 'scope', id: 'key-scope' },
      h('legend', { text: 'Namespaces it may use' }),
      h('p', { class: 'muted', text: 'Leave all unticked for every namespace you can use (and those you join later).' }),
      boxes);
    const form = h('form', { class: 'card', id: 'create-key' }, h('h2', { text: 'Create a key' }),
      h('label', { for: 'key-label', text: 'Label' }), label,
      h('label', { class: 'check', for: 'key-read-only' }, readOnly, 'Read-only (list, read and download only)'),
      scope,
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'create-key-button', text: 'Create key' })), created);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(created);
      const chosen = [...form.querySelectorAll('input.key-ns:checked')].map((b) => b.value);
      const body = { label: label.value.trim(), read_only: readOnly.checked };
      if (chosen.length) body.namespaces = chosen;
      try {
        const made = await call('POST', '/api/v1/keys', body);
        const table = keysTable(await call('GET', '/api/v1/keys'), revokeKey);
        main.querySelector('.table-wrap').replaceWith(table);
        const limits = [made.key?.read_only ? 'read-only' : null,
          made.key?.namespaces?.length ? `limited to ${made.key.namespaces.join(', ')}` : null].filter(Boolean);
        created.append(notice('ok', `Key created${limits.length ? ` (${limits.join(', ')})` : ''}. It is shown only now: copy it somewhere safe.`),
          h('div', { class: 'snippet-row' }, h('code', { class: 'secret', id: 'new-key-value', text: made.api_key }), copyButton(made.api_key)),
          h('p', { class: 'muted', text: `Use it with: fedml login ${made.api_key.slice(0, 8)}…` }));
        label.value = '';
        readOnly.checked = false;
        for (const b of form.querySelectorAll('input.key-ns')) b.checked = false;
      } catch (e) {
        const shown = failed(e);
        if (shown) created.append(shown);
      }
    });
    parts.push(form);
  }
  show(...parts);
}

// ---------------------------------------------------------------- administrators

async function adminView() {
  let users;
  try {
    users = await call('GET', '/api/v1/admin/users');
  } catch (e) {
    const shown = failed(e);
    if (shown) show(h('h1', { text: 'Users' }), shown);
    return;
  }
  show(h('h1', { text: 'Users' }), h('div', { class: 'table-wrap' }, h('table', { id: 'users' },
    h('thead', {}, h('tr', {}, ['User', 'Admin', 'Objects', 'Stored', 'Active keys', 'Created'].map((t) => h('th', { scope: 'col', class: t === 'Created' ? 'hide-narrow' : undefined, text: t })))),
    h('tbody', {}, users.map((u) => h('tr', {},
      h('td', { class: 'name' }, h('a', { href: `#/admin/user/${seg(u.name)}`, text: u.name })),
      h('td', { text: u.admin ? 'yes' : '' }), h('td', { class: 'num', text: u.objects.toLocaleString() }),
      h('td', { class: 'num', text: size(u.stored_bytes) }), h('td', { class: 'num', text: String(u.active_keys) }),
      h('td', { class: 'hide-narrow', text: when(u.created_at) })))))));
}

async function adminUserView(name) {
  let keys;
  try {
    keys = await call('GET', `/api/v1/admin/users/${seg(name)}/keys`);
  } catch (e) {
    const shown = failed(e);
    if (shown) show(h('h1', { text: name }), shown);
    return;
  }
  show(h('h1', { text: `Keys of ${name}` }), keysTable(keys, revokeKey), h('p', {}, h('a', { href: '#/admin', text: 'All users' })));
}

// ---------------------------------------------------------------- routing

// What the page last drew (address without the origin): a `hashchange` and a `popstate` for
// one move of the address draw it once.
let drawn = '';

async function draw() {
  drawn = location.search + location.hash;
  setChrome();
  if (!state.session) return signInView();
  const [path, query] = location.hash.slice(1).split('?');
  const parts = path.split('/').filter(Boolean);
  const params = new URLSearchParams(query || '');
  const decode = (s) => { try { return decodeURIComponent(s); } catch { return s; } };
  switch (parts[0]) {
    case 'object': return objectView(decode(parts.slice(1).join('/')));
    case 'upload': return canWrite() ? uploadView() : objectsView(params);
    case 'keys': return keysView();
    case 'orgs': return orgsView();
    case 'org': return orgView(decode(parts.slice(1).join('/')));
    case 'links': return linksView();
    case 'log': return logView();
    case 'admin': return parts[1] === 'user' ? adminUserView(decode(parts.slice(2).join('/'))) : adminView();
    default: return objectsView(params);
  }
}
setRouter(draw);
setChromeUpdater(setChrome);

function moved() {
  if (location.search + location.hash === drawn) return;
  if (state.session) pickNamespace();
  draw();
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await call('DELETE', '/api/v1/session');
    setFlash('ok', 'Signed out.');
  } catch (e) {
    setFlash('error', e.message);
  }
  state.session = null;
  state.namespaces = [];
  state.current = null;
  setCsrf(null);
  // The next person starts in their own namespace.
  history.pushState(null, '', `${location.pathname}#/signin`);
  draw();
});

document.getElementById('namespace').addEventListener('change', (event) => {
  const view = (location.hash.split('/')[1] || 'objects').split('?')[0];
  // Pages of one namespace's things go to its objects; the others stay where they are.
  const stays = ['keys', 'orgs', 'org', 'admin', 'links', 'log', 'upload'].includes(view);
  switchNamespace(event.target.value, stays ? location.hash : '#/objects');
});

window.addEventListener('hashchange', moved);
window.addEventListener('popstate', moved);

(async () => {
  try {
    state.session = await call('GET', '/api/v1/session');
    setCsrf(state.session.csrf_token);
    await loadNamespaces();
  } catch {
    state.session = null;
  }
  draw();
})();

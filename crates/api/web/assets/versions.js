// An object's versions (list, compare two, download or remove one) and what a namespace's
// storage really holds (logical bytes beside stored bytes).

import { call, lastPart, seg, withNs } from './api.js';
import { canWrite, failed, route, setFlash } from './shell.js';
import { shareDialog } from './teams.js';
import { clear, confirmDialog, h, notice, size, when } from './views.js';

function percent(part, whole) {
  if (!whole) return '0%';
  const p = (100 * part) / whole;
  return `${p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)}%`;
}

// "12 objects · 3.2 GiB of data · 1.1 GiB stored (deduplication saves 66%)" into `el`.
export async function usageLine(el) {
  let usage;
  try {
    usage = await call('GET', withNs('/api/v1/usage'));
  } catch (e) {
    el.textContent = `Usage unavailable: ${e.message}`;
    return;
  }
  const saved = usage.logical_bytes > usage.stored_bytes ? usage.logical_bytes - usage.stored_bytes : 0;
  clear(el).append(
    h('span', { id: 'usage-objects', text: `${Number(usage.objects).toLocaleString()} object${usage.objects === 1 ? '' : 's'}` }), ' · ',
    h('span', { id: 'usage-logical', title: 'What downloads of every version give', text: `${size(usage.logical_bytes)} of data` }), ' · ',
    h('span', { id: 'usage-stored', title: 'What the store really holds for them (each shared chunk once)', text: `${size(usage.stored_bytes)} stored` }),
    saved > 0 ? ` (deduplication saves ${percent(saved, usage.logical_bytes)})` : '');
}

function shortSum(checksum) {
  const [algo, hex] = String(checksum).split(':');
  return hex ? `${algo}:${hex.slice(0, 12)}…` : checksum;
}

// Starts the browser's download of one version.
async function downloadVersion(meta, v, status) {
  try {
    const ticket = await call('GET', withNs(`/api/v1/objects/${seg(meta.dataName)}/download`, { version: v.version }));
    const name = meta.kind === 'directory' ? `${lastPart(meta.dataName)}.v${v.version}.zip` : lastPart(meta.dataName);
    const a = h('a', { href: ticket.url, download: name, rel: 'noopener', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    clear(status).append(notice('info', `Downloading version ${v.version} (${size(v.size)}).`));
  } catch (e) {
    const shown = failed(e, `cannot download version ${v.version}`);
    if (shown) clear(status).append(shown);
  }
}

async function removeVersion(meta, v, versions, status) {
  const others = versions.filter((o) => o.version !== v.version);
  const after = others.length ? Math.max(...others.map((o) => o.version)) : null;
  const consequence = others.length === 0
    ? 'It is the only version: the name goes with it.'
    : v.latest ? `It is the latest: version ${after} becomes the latest.` : 'The latest version stays as it is.';
  const ok = await confirmDialog(`Remove version ${v.version}?`,
    `Version ${v.version} of “${meta.dataName}” (${size(v.size)}) will be removed, and links that share it stop working. ${consequence} This cannot be undone.`,
    'Remove version');
  if (!ok) return;
  let removed;
  try {
    removed = await call('DELETE', withNs(`/api/v1/objects/${seg(meta.dataName)}`, { version: v.version }));
  } catch (e) {
    const shown = failed(e);
    if (shown) clear(status).append(shown);
    return;
  }
  if (removed && removed.name_deleted) {
    setFlash('ok', `Removed version ${v.version} of “${meta.dataName}”, its only version: the name is gone.`);
    location.hash = '#/objects';
    return;
  }
  const latest = removed && removed.latest ? `; version ${removed.latest} is the latest now` : '';
  setFlash('ok', `Removed version ${v.version} of “${meta.dataName}”${latest}.`);
  route();
}

function compareForm(meta, versions) {
  const options = (selected) => versions.map((v) => h('option', { value: String(v.version), selected: v.version === selected,
    text: `v${v.version}${v.latest ? ' (latest)' : ''} · ${when(v.updated_at)}` }));
  const from = h('select', { id: 'diff-from' }, options(versions[1].version));
  const to = h('select', { id: 'diff-to' }, options(versions[0].version));
  const result = h('div', { id: 'diff-result', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'secondary', id: 'diff-button', text: 'Compare' });
  const form = h('form', { class: 'compare', id: 'compare' }, h('h3', { text: 'Compare two versions' }),
    h('div', { class: 'toolbar' },
      h('div', {}, h('label', { for: 'diff-from', text: 'From' }), from),
      h('div', {}, h('label', { for: 'diff-to', text: 'To' }), to),
      h('div', {}, button)),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    clear(result);
    try {
      const diff = await call('GET', withNs(`/api/v1/objects/${seg(meta.dataName)}/diff`, { from: from.value, to: to.value }));
      const a = diff.from;
      const b = diff.to;
      const same = a.checksum === b.checksum;
      const onlyB = Math.max(0, b.size - diff.shared_bytes);
      const onlyA = Math.max(0, a.size - diff.shared_bytes);
      result.append(
        h('p', { class: 'diff-summary', text: same
          ? `v${a.version} and v${b.version} hold the same content (${size(b.size)}).`
          : `v${a.version} and v${b.version} share ${size(diff.shared_bytes)}: ${percent(diff.shared_bytes, b.size)} of v${b.version}, ${percent(diff.shared_bytes, a.size)} of v${a.version}.` }),
        h('div', { class: 'table-wrap' }, h('table', { id: 'diff-table' },
          h('thead', {}, h('tr', {}, ['', `v${a.version}`, `v${b.version}`].map((t) => h('th', { scope: 'col', class: t ? 'num' : undefined, text: t })))),
          h('tbody', {},
            h('tr', {}, h('th', { scope: 'row', text: 'Size' }), h('td', { class: 'num', text: size(a.size) }), h('td', { class: 'num', text: size(b.size) })),
            h('tr', {}, h('th', { scope: 'row', text: 'Shared bytes' }), h('td', { class: 'num', id: 'diff-shared', text: size(diff.shared_bytes) }), h('td', { class: 'num', text: size(diff.shared_bytes) })),
            h('tr', {}, h('th', { scope: 'row', text: 'Not in the other' }), h('td', { class: 'num', text: size(onlyA) }), h('td', { class: 'num', text: size(onlyB) })),
            h('tr', {}, h('th', { scope: 'row', text: 'Checksum' }), h('td', { class: 'mono num', title: a.checksum, text: shortSum(a.checksum) }), h('td', { class: 'mono num', title: b.checksum, text: shortSum(b.checksum) })),
            h('tr', {}, h('th', { scope: 'row', text: 'Stored' }), h('td', { class: 'num', text: when(a.updated_at) }), h('td', { class: 'num', text: when(b.updated_at) }))))));
    } catch (e) {
      const shown = failed(e);
      if (shown) result.append(shown);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// Fills `card` with the versions of the object `meta` names.
export async function versionsCard(card, meta) {
  let versions;
  try {
    versions = await call('GET', withNs(`/api/v1/objects/${seg(meta.dataName)}/versions`));
  } catch (e) {
    const shown = failed(e);
    if (shown) clear(card).append(h('h2', { text: 'Versions' }), shown);
    return;
  }
  versions = [...versions].sort((a, b) => b.version - a.version);
  const writer = canWrite();
  const status = h('div', { id: 'versions-status', 'aria-live': 'polite' });
  const rows = versions.map((v) => h('tr', { 'data-version': String(v.version) },
    h('td', {}, `v${v.version}`, v.latest ? [' ', h('span', { class: 'badge latest', text: 'latest' })] : null),
    h('td', { class: 'num', text: size(v.size) }),
    h('td', { class: 'num hide-narrow', title: 'Bytes this version added to the store', text: v.added_bytes === null || v.added_bytes === undefined ? '—' : size(v.added_bytes) }),
    h('td', { class: 'hide-narrow', text: when(v.updated_at) }),
    h('td', { class: 'name hide-narrow', text: v.description || '' }),
    h('td', { class: 'mono hide-narrow', title: v.checksum, text: shortSum(v.checksum) }),
    h('td', { class: 'row-actions' },
      h('button', { type: 'button', class: 'secondary small version-download', 'aria-label': `Download version ${v.version}`, text: 'Download',
        onclick: () => downloadVersion(meta, v, status) }),
      writer ? h('button', { type: 'button', class: 'secondary small version-share', 'aria-label': `Share version ${v.version}`, text: 'Share…',
        onclick: () => shareDialog(meta.dataName, v.version) }) : null,
      writer ? h('button', { type: 'button', class: 'danger small version-remove', 'aria-label': `Remove version ${v.version}`, text: 'Remove…',
        onclick: () => removeVersion(meta, v, versions, status) }) : null)));
  const total = versions.reduce((n, v) => n + Number(v.size), 0);
  const added = versions.every((v) => typeof v.added_bytes === 'number') ? versions.reduce((n, v) => n + v.added_bytes, 0) : null;
  clear(card).append(
    h('h2', { text: `Versions (${versions.length})` }),
    h('p', { class: 'muted', id: 'versions-summary', text: added === null
      ? `${size(total)} across all versions.`
      : `${size(total)} across all versions; they added ${size(added)} to the store.` }),
    h('div', { class: 'table-wrap' }, h('table', { id: 'version-list' },
      h('thead', {}, h('tr', {}, [['Version'], ['Size', 'num'], ['Added', 'num hide-narrow'], ['Stored', 'hide-narrow'], ['Description', 'hide-narrow'], ['Checksum', 'hide-narrow'], ['']]
        .map(([t, c]) => h('th', { scope: 'col', class: c, text: t })))),
      h('tbody', {}, rows))),
    status,
    versions.length >= 2 ? compareForm(meta, versions) : h('p', { class: 'muted', text: 'One version so far: an upload with “Replace” makes the next.' }));
}

// Building the page: every element is made with createElement and every user-supplied string is
// set as text (textContent), never parsed as HTML, and shown through `visible` first.

// Characters that draw nothing or change how the text around them is drawn (format characters:
// bidirectional controls, zero-width characters, the BOM; invisible fillers; line and paragraph
// separators) and control characters: shown as escapes, as the CLI shows them, so that stored
// text cannot make one name or description look like another. Form fields keep the exact text.
const INVISIBLE = /[\p{Cc}\p{Cf}\u034F\u115F\u1160\u17B4\u17B5\u180B-\u180F\u2028\u2029\u3164\uFFA0]/gu;

export function visible(text) {
  return String(text).replace(INVISIBLE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.codePointAt(0);
    return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = visible(value);
    // Text of the page's own making that must keep its line breaks (code snippets).
    else if (key === 'code') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(visible(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function size(bytes) {
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function when(rfc3339) {
  if (!rfc3339) return '';
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? rfc3339 : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// A message line: kind is 'error', 'ok' or 'info'. Read out by screen readers.
export function notice(kind, text) {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status', text });
}

// A button that copies `text` and says so.
export function copyButton(text, label = 'Copy') {
  const button = h('button', { type: 'button', class: 'secondary small', text: label });
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select and copy';
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

export function tagChips(tags) {
  return h('span', { class: 'tags' }, (tags || []).map((t) => h('span', { class: 'tag', text: t })));
}

// A modal confirmation; resolves true when confirmed. With `typeToConfirm`, the confirming
// button stays disabled until that text is typed (for what deletes a lot at once).
export function confirmDialog(title, body, confirmLabel, { typeToConfirm } = {}) {
  return new Promise((resolve) => {
    const confirm = h('button', { type: 'button', class: 'danger', id: 'confirm-ok', text: confirmLabel, disabled: Boolean(typeToConfirm) });
    let typed = null;
    if (typeToConfirm) {
      typed = h('input', { type: 'text', id: 'confirm-typed', autocomplete: 'off', spellcheck: 'false' });
      typed.addEventListener('input', () => { confirm.disabled = typed.value !== typeToConfirm; });
    }
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title', text: title }),
      h('p', { text: body }),
      typed ? [h('label', { for: 'confirm-typed', text: `Type “${typeToConfirm}” to confirm` }), typed] : null,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', text: 'Cancel', onclick: () => dialog.close('cancel') }),
        confirm));
    confirm.addEventListener('click', () => dialog.close('ok'));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    if (typed) typed.focus();
  });
}

// A modal dialog around `content` (built by the caller), removed when closed.
export function modal(titleText, ...content) {
  const dialog = h('dialog', { class: 'confirm wide', 'aria-labelledby': 'modal-title' },
    h('h2', { id: 'modal-title', text: titleText }), ...content);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

// A duration in seconds as people say it ("7 days", "1 hour").
export function duration(seconds) {
  const units = [[86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [n, unit] of units) {
    if (seconds >= n && seconds % n === 0) {
      const count = seconds / n;
      return `${count} ${unit}${count === 1 ? '' : 's'}`;
    }
  }
  return `${seconds} seconds`;
}

// How far in the future (or past) an RFC 3339 time is, roughly: "in 6 days", "3 hours ago".
export function relative(rfc3339) {
  const t = new Date(rfc3339).getTime();
  if (Number.isNaN(t)) return '';
  const diff = (t - Date.now()) / 1000;
  const abs = Math.abs(diff);
  const [n, unit] = abs >= 86400 ? [abs / 86400, 'day'] : abs >= 3600 ? [abs / 3600, 'hour'] : abs >= 60 ? [abs / 60, 'minute'] : [abs, 'second'];
  const count = Math.round(n);
  const text = `${count} ${unit}${count === 1 ? '' : 's'}`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

// Rows of key/value inputs for user metadata; `read()` answers the object they hold.
export function metadataEditor(initial = {}) {
  const rows = h('div', { class: 'kv-rows' });
  const addRow = (k = '', v = '') => {
    const key = h('input', { type: 'text', 'aria-label': 'Metadata key', placeholder: 'key', value: k });
    const value = h('input', { type: 'text', 'aria-label': 'Metadata value', placeholder: 'value', value: v });
    const row = h('div', { class: 'kv-row' }, key, value,
      h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Remove this entry', text: '✕', onclick: () => row.remove() }));
    rows.append(row);
  };
  for (const [k, v] of Object.entries(initial)) addRow(k, v);
  const box = h('div', { class: 'kv' }, rows,
    h('button', { type: 'button', class: 'secondary small', text: 'Add metadata entry', onclick: () => addRow() }));
  box.read = () => {
    const out = {};
    for (const row of rows.querySelectorAll('.kv-row')) {
      const [k, v] = row.querySelectorAll('input');
      if (k.value.trim() === '' && v.value === '') continue;
      out[k.value.trim()] = v.value;
    }
    return out;
  };
  return box;
}

export function splitTags(text) {
  return text.split(',').map((t) => t.trim()).filter((t) => t !== '');
}

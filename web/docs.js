// partybus API reference: renders /openapi.json (OpenAPI 3.1) into HTML in
// the browser. Small on purpose: operations with parameters, bodies and
// responses, then every component schema, with $ref links between them.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // Renders `code spans` in descriptions; everything else stays text.
  function prose(text) {
    return String(text || '').split('`').map((part, i) => (i % 2 ? el('code', { text: part }) : part));
  }

  const refName = (ref) => String(ref).split('/').pop();
  const schemaLink = (ref) => el('a', { href: `#schema-${refName(ref)}` }, el('code', { text: refName(ref) }));

  function typeOf(s) {
    if (!s || typeof s !== 'object') return '';
    if (s.$ref) return schemaLink(s.$ref);
    if (s.const !== undefined) return el('code', { text: JSON.stringify(s.const) });
    if (s.oneOf || s.anyOf) return join((s.oneOf || s.anyOf).map(typeOf), ' | ');
    if (s.allOf) return join(s.allOf.map(constraint).filter((x) => x !== ''), ' ');
    let t = Array.isArray(s.type) ? s.type.join(' | ') : s.type || (s.properties ? 'object' : '');
    if (t === 'array' && s.items) return [el('span', { text: 'array of ' }), typeOf(s.items)];
    if (s.enum) t += ` (${s.enum.map((e) => JSON.stringify(e)).join(', ')})`;
    if (s.pattern) t += ` /${s.pattern}/`;
    return t;
  }

  // A part of an allOf: a reference, or inline narrowing such as `code` enums.
  function constraint(s) {
    if (!s || s.$ref || s.type) return typeOf(s);
    const props = Object.entries(s.properties || {});
    if (!props.length) return '';
    return ['(', join(props.map(([k, p]) => [el('code', { text: k }), ': ',
      p.enum ? p.enum.map((e) => JSON.stringify(e)).join(' | ') : typeOf(p)]), '; '), ')'];
  }

  function join(parts, sep) {
    const out = [];
    parts.forEach((p, i) => { if (i) out.push(sep); out.push(p); });
    return out;
  }

  function schemaTree(s, depth) {
    if (!s || typeof s !== 'object' || depth > 4) return null;
    const props = s.properties || {};
    const required = new Set(s.required || []);
    const items = Object.entries(props).map(([name, p]) => el('li', {},
      el('strong', { text: name }), required.has(name) ? el('span', { class: 'req', title: 'required', text: '*' }) : null,
      ': ', typeOf(p), p.description ? [' — ', el('span', { class: 'desc' }, prose(p.description))] : null,
      p.properties ? schemaTree(p, depth + 1) : null));
    if (s.allOf) s.allOf.filter((x) => x.properties).forEach((x) => items.push(el('li', {}, schemaTree(x, depth + 1))));
    if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      items.push(el('li', {}, el('em', { text: '<any key>' }), ': ', typeOf(s.additionalProperties)));
    }
    return items.length ? el('ul', { class: 'schema' }, items) : null;
  }

  function operation(path, method, op) {
    const params = (op.parameters || []).map((p) => (p.$ref ? resolve(p.$ref) : p)).filter(Boolean);
    const body = op.requestBody && op.requestBody.content;
    const rows = Object.entries(op.responses || {}).map(([status, r]) => {
      const content = r.content || {};
      const [media, c] = Object.entries(content)[0] || [];
      return el('tr', {},
        el('td', { class: `status s${status[0]}`, text: status }),
        el('td', {}, prose(r.description)),
        el('td', {}, media ? [el('code', { text: media }), ' ', c && c.schema ? typeOf(c.schema) : ''] : ''));
    });
    const security = (op.security || []).length ? 'Needs the party token (Authorization: Bearer, or ?token=).' : 'Public.';
    return el('details', { class: 'op', id: `op-${op.operationId || method + path}` },
      el('summary', {},
        el('span', { class: `method m-${method}`, text: method.toUpperCase() }),
        el('span', { class: 'path', text: path }),
        el('span', { class: 'summary' }, prose(op.summary))),
      el('div', { class: 'op-body' },
        el('p', { class: 'desc', text: security }),
        params.length ? [el('h3', { text: 'Parameters' }), el('table', {},
          el('thead', {}, el('tr', {}, ['Name', 'In', 'Type', 'Description'].map((h) => el('th', { scope: 'col', text: h })))),
          el('tbody', {}, params.map((p) => el('tr', {},
            el('td', {}, el('code', { text: p.name }), p.required ? el('span', { class: 'req', text: '*' }) : null),
            el('td', { text: p.in }), el('td', {}, typeOf(p.schema)), el('td', {}, prose(p.description))))))] : null,
        body ? [el('h3', { text: 'Request body' }), Object.entries(body).map(([media, c]) => el('p', {},
          el('code', { text: media }), ' ', typeOf(c.schema)))] : null,
        el('h3', { text: 'Responses' }),
        el('table', {}, el('tbody', {}, rows))));
  }

  let doc = null;
  function resolve(ref) {
    let v = doc;
    for (const part of String(ref).replace(/^#\//, '').split('/')) v = v && v[part];
    return v || null;
  }

  function render() {
    $('title').textContent = `${doc.info.title} ${doc.info.version} · API reference`;
    const ops = [];
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const [method, op] of Object.entries(item)) ops.push([path, method, op]);
    }
    const schemas = Object.entries((doc.components && doc.components.schemas) || {});
    $('doc').replaceChildren(...[
      el('p', { class: 'desc' }, prose(doc.info.description)),
      el('h2', { text: 'Operations' }),
      el('ul', { class: 'toc' }, ops.map(([path, method, op]) => el('li', {},
        el('a', { href: `#op-${op.operationId || method + path}` }, `${method.toUpperCase()} ${path}`)))),
      ops.map(([path, method, op]) => operation(path, method, op)),
      el('h2', { text: 'Schemas' }),
      schemas.map(([name, s]) => el('section', { class: 'card', id: `schema-${name}` },
        el('h3', {}, el('code', { text: name }), ' ', s.type && !s.properties ? typeOf(s) : s.$ref ? typeOf(s) : ''),
        s.description ? el('p', { class: 'desc' }, prose(s.description)) : null,
        schemaTree(s, 0))),
    ].flat(Infinity));
    $('status').textContent = `${ops.length} operations, ${schemas.length} schemas.`;
    // Open the operation a link points at.
    const target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.tagName === 'DETAILS') target.open = true;
  }

  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[href^="#op-"]');
    if (a) {
      const d = document.getElementById(a.getAttribute('href').slice(1));
      if (d) d.open = true;
    }
  });

  fetch('openapi.json', { cache: 'no-store' })
    .then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.json(); })
    .then((d) => { doc = d; render(); })
    .catch((e) => { $('status').textContent = `Could not load /openapi.json: ${e.message}`; });
})();

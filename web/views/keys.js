// Keys: browse by prefix a page at a time, upload with progress, download, delete,
// and search by name and upload date (the `search` extension).
import { useEffect, useState } from 'preact/hooks'
import { api, get, keyPath, keyUrl, upload } from '../lib/api.js'
import { live } from '../lib/live.js'
import { ErrorLine, Progress, act, bytes, html, notify, useLoad, useThrottled, when } from '../lib/ui.js'

const PAGE_SIZES = [25, 50, 100, 500]

export function KeysView () {
  const [prefix, setPrefix] = useState('')
  const [limit, setLimit] = useState(50)
  // The `after` cursor of each page seen, to go back.
  const [cursors, setCursors] = useState([undefined])
  const after = cursors[cursors.length - 1]
  const list = useLoad(() => {
    const q = new URLSearchParams({ limit: String(limit + 1) })
    if (prefix !== '') q.set('prefix', prefix)
    if (after !== undefined) q.set('after', after)
    return get(`admin/keys?${q}`)
  }, [prefix, limit, after])
  const reloadSoon = useThrottled(list.reload, 400)
  useEffect(() => live.on('keys', e => {
    if (e.type === 'sampled' || e.key === undefined) reloadSoon()
    else if (e.key.startsWith(prefix === '' || prefix.startsWith('/') ? prefix : `/${prefix}`)) reloadSoon()
  }), [prefix, reloadSoon])

  const rows = list.data ?? []
  const more = rows.length > limit
  const page = rows.slice(0, limit)
  const go = p => { setPrefix(p); setCursors([undefined]) }
  return html`
    <section>
      <div class="two">
        <${Upload} prefix=${prefix} onDone=${list.reload} />
        <${Search} />
      </div>
      <div class="card">
        <h3>Keys</h3>
        <form class="row" onSubmit=${e => { e.preventDefault(); go(e.currentTarget.elements.prefix.value.trim()) }}>
          <label>prefix <input name="prefix" id="key-prefix" placeholder="/photos/2024/" value=${prefix} /></label>
          <button type="submit">List</button>
          <label>per page <select value=${limit} onChange=${e => { setLimit(Number(e.currentTarget.value)); setCursors([undefined]) }}>
            ${PAGE_SIZES.map(n => html`<option value=${n}>${n}</option>`)}</select></label>
          <button type="button" onClick=${list.reload}>Refresh</button>
        </form>
        <${ErrorLine} error=${list.error} />
        ${list.data === undefined ? null : html`<${KeyTable} rows=${page} onChange=${list.reload} onPrefix=${go} />`}
        <div class="row pager">
          <button disabled=${cursors.length === 1} onClick=${() => setCursors(c => c.slice(0, -1))}>‹ Previous</button>
          <span class="muted">page ${cursors.length}${page.length > 0 ? `: ${page[0].key} … ${page[page.length - 1].key}` : ''}</span>
          <button disabled=${!more} onClick=${() => setCursors(c => [...c, page[page.length - 1].key])}>Next ›</button>
        </div>
      </div>
    </section>`
}

/** The directory part of a key, to browse from it. */
const dirOf = key => key.slice(0, key.lastIndexOf('/') + 1)

function KeyTable ({ rows, onChange, onPrefix }) {
  if (rows.length === 0) return html`<p class="muted" id="keys-empty">no keys here</p>`
  return html`
    <table id="keys">
      <thead><tr><th>key</th><th>size</th><th>uploaded</th><th>expires</th><th></th></tr></thead>
      <tbody>${rows.map(r => html`
        <tr key=${r.key} data-key=${r.key}>
          <td><a href="#" title="list this directory" onClick=${e => { e.preventDefault(); onPrefix(dirOf(r.key)) }}>${dirOf(r.key)}</a>${r.key.slice(dirOf(r.key).length)}</td>
          <td>${bytes(r.size)}</td>
          <td>${when(r.created)}</td>
          <td>${r.expires === null ? html`<span class="muted">never</span>` : when(r.expires)}</td>
          <td class="actions"><${KeyActions} k=${r.key} onChange=${onChange} /></td>
        </tr>`)}
      </tbody>
    </table>`
}

function KeyActions ({ k, onChange }) {
  const del = async () => {
    if (!confirm(`Delete ${k}?`)) return
    if (await act(() => api('DELETE', `delete_key/${keyPath(k)}`)) !== undefined) onChange?.()
  }
  return html`<a class="button" href=${keyUrl(k)} download=${k.slice(k.lastIndexOf('/') + 1)}>Download</a> <button class="danger" onClick=${del}>Delete</button>`
}

function Upload ({ prefix, onDone }) {
  const [file, setFile] = useState(null)
  const [key, setKey] = useState('')
  const [temporal, setTemporal] = useState('')
  const [progress, setProgress] = useState(null)
  const pick = e => {
    const f = e.currentTarget.files[0] ?? null
    setFile(f)
    if (f !== null) setKey(`${prefix === '' ? '/' : prefix.endsWith('/') ? prefix : `${prefix}/`}${f.name}`.replace(/^([^/])/, '/$1'))
  }
  const send = async e => {
    e.preventDefault()
    if (file === null || key === '') return
    setProgress(0)
    try {
      const msg = await upload(key, file, { temporal, onProgress: setProgress })
      notify(`${key}: ${msg}`)
      onDone()
    } catch (err) {
      notify(`${key}: ${err.message}`, 'error')
    } finally {
      setProgress(null)
    }
  }
  return html`
    <form class="card" id="upload" onSubmit=${send}>
      <h3>Upload</h3>
      <div class="row"><input type="file" id="upload-file" onChange=${pick} /></div>
      <div class="row"><label>key <input id="upload-key" value=${key} onInput=${e => setKey(e.currentTarget.value)} placeholder="/dir/name.ext" size="36" /></label></div>
      <div class="row"><label>expires after <input type="number" min="-1" value=${temporal} onInput=${e => setTemporal(e.currentTarget.value)} placeholder="never" class="narrow" /> days</label>
        <button type="submit" id="upload-send" disabled=${file === null || progress !== null}>Upload</button></div>
      ${progress !== null ? html`<${Progress} fraction=${progress} text=${bytes(file.size)} />` : null}
    </form>`
}

function Search () {
  const [hits, setHits] = useState(null)
  const [error, setError] = useState(null)
  const run = async e => {
    e.preventDefault()
    const f = e.currentTarget.elements
    const q = new URLSearchParams()
    if (f.date.value !== '') q.set(f.rel.value, f.date.value)
    q.set('limit', '200')
    const text = f.text.value.trim()
    try {
      setHits(await get(`extension/search${text === '' ? '' : `/${text.split('/').map(encodeURIComponent).join('/')}`}?${q}`))
      setError(null)
    } catch (err) {
      setError(err.message)
    }
  }
  return html`
    <form class="card" id="search" onSubmit=${run}>
      <h3>Search</h3>
      <div class="row"><label>name contains <input name="text" placeholder="report" /></label></div>
      <div class="row"><label>uploaded <select name="rel"><option value="eq">on</option><option value="gt">on or after</option><option value="lt">on or before</option></select></label>
        <input type="date" name="date" /> <button type="submit">Search</button></div>
      <${ErrorLine} error=${error} />
      ${hits === null ? null : hits.length === 0 ? html`<p class="muted">nothing found</p>` : html`
        <ul class="hits">${hits.map(h => html`<li key=${h.key}><code>${h.key}</code> <${KeyActions} k=${h.key} /></li>`)}</ul>`}
    </form>`
}

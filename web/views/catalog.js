// The catalog of seeds, and launching one with arguments (now, or on a schedule).
import { useState } from 'preact/hooks'
import { api, get } from '../lib/api.js'
import { ErrorLine, html, notify, useLoad } from '../lib/ui.js'

/** The launch body the catalog's `args` suggests: its keys with empty values. */
function argsTemplate (args) {
  try {
    const parsed = typeof args === 'string' ? JSON.parse(args) : args
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return JSON.stringify(Object.fromEntries(Object.keys(parsed).map(k => [k, ''])), null, 1)
    }
  } catch {}
  return '{}'
}

export function CatalogView ({ onLaunched }) {
  const cat = useLoad(() => get('admin/job_catalog'), [], { everyMs: 10_000 })
  const [open, setOpen] = useState(null)
  const seeds = cat.data ?? []
  return html`
    <div class="card" id="catalog">
      <h3>Catalog</h3>
      <${ErrorLine} error=${cat.error} />
      ${seeds.length === 0 && !cat.loading ? html`<p class="muted">no seeds on any worker</p>` : null}
      <table>
        <thead><tr><th>seed</th><th>description</th><th>kind</th><th>workers</th><th></th></tr></thead>
        <tbody>${seeds.map(s => html`
          <tr key=${s.path} data-seed=${s.path}>
            <td><b>${s.path}</b>${s.hash_conflict ? html` <span class="warn" title="workers hold different contents">conflict</span>` : null}</td>
            <td>${s.description}${s.error ? html`<div class="error">${s.error}</div>` : null}</td>
            <td>${s.kind}</td>
            <td>${(s.peers ?? []).length}</td>
            <td><button disabled=${!s.launchable} onClick=${() => setOpen(open === s.path ? null : s.path)}>Launch…</button></td>
          </tr>
          ${open === s.path ? html`<tr key=${`${s.path}-form`}><td colspan="5"><${LaunchForm} seed=${s} onLaunched=${id => { setOpen(null); onLaunched(id) }} /></td></tr>` : null}`)}
        </tbody>
      </table>
    </div>`
}

function LaunchForm ({ seed, onLaunched }) {
  const [error, setError] = useState(null)
  const submit = async e => {
    e.preventDefault()
    const f = e.currentTarget.elements
    let body
    try {
      body = JSON.parse(f.args.value.trim() === '' ? '{}' : f.args.value)
    } catch (err) {
      setError(`the arguments are not JSON: ${err.message}`)
      return
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      setError('the arguments must be a JSON object')
      return
    }
    if (f.priority.value !== '') body.priority = Number(f.priority.value)
    const every = f.every.value.trim()
    const cron = f.cron.value.trim()
    if (every !== '') body.scheduled = { every }
    else if (cron !== '') body.scheduled = { cron, tz: f.tz.value.trim() || 'UTC' }
    try {
      const res = await api('POST', `launch_job/${seed.path}`, { body })
      setError(null)
      notify(body.scheduled === undefined ? res.msg : `Schedule added with id ${res.data.job_id}`)
      onLaunched(body.scheduled === undefined ? res.data.job_id : null)
    } catch (err) {
      setError(err.message)
    }
  }
  return html`
    <form class="launch" onSubmit=${submit}>
      <label>arguments (JSON object)<textarea name="args" rows="4" cols="50" defaultValue=${argsTemplate(seed.args)}></textarea></label>
      ${seed.args && seed.args !== '{}' ? html`<p class="muted">expects: <code>${typeof seed.args === 'string' ? seed.args : JSON.stringify(seed.args)}</code></p>` : null}
      <div class="row">
        <label>priority <input name="priority" type="number" min="0" max="9" placeholder="5" class="narrow" /></label>
        <label>repeat every <input name="every" placeholder="5 minutes" /></label>
        <label>or on cron <input name="cron" placeholder="*/5 * * * *" /></label>
        <label>tz <input name="tz" placeholder="UTC" class="narrow" /></label>
      </div>
      <${ErrorLine} error=${error} />
      <button type="submit" class="primary">Launch ${seed.path}</button>
    </form>`
}

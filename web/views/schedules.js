// Schedules: each with its rule, its next firing (live), its counts; cancel.
import { useEffect, useState } from 'preact/hooks'
import { api, get } from '../lib/api.js'
import { live } from '../lib/live.js'
import { ErrorLine, StateBadge, act, ago, html, useLoad, useThrottled, useTick, when } from '../lib/ui.js'

/** The rule of a schedule, as it was given. */
function rule (s) {
  if (s.cron !== null && s.cron !== undefined) return `cron ${s.cron} (${s.tz ?? 'UTC'})`
  if (s.every !== null && s.every !== undefined) return `every ${s.every}`
  return s.repeat === 0 ? `once, after ${s.time_unit} ${s.interval}` : `every ${s.time_unit} ${s.interval}`
}

export function SchedulesView ({ onSelectJob }) {
  const [state, setState] = useState('scheduled')
  const list = useLoad(() => get(`admin/scheduled_jobs?limit=1000${state === '' ? '' : `&state=${state}`}`), [state])
  const reload = useThrottled(list.reload, 500)
  useEffect(() => live.on('schedules', reload), [reload])
  useTick(1000)
  const rows = list.data ?? []
  const cancel = async id => { if (await act(() => api('POST', `cancel_job/${id}`)) !== undefined) list.reload() }
  return html`
    <section>
      <div class="card" id="schedules">
        <h3>Schedules</h3>
        <div class="row">
          <label>state <select value=${state} onChange=${e => setState(e.currentTarget.value)}>
            ${[['scheduled', 'scheduled'], ['canceled', 'canceled'], ['done', 'done'], ['', 'any']].map(([v, t]) => html`<option value=${v}>${t}</option>`)}</select></label>
          <button onClick=${list.reload}>Refresh</button>
          <span class="muted">new schedules: the catalog's Launch, with "repeat every" or "cron"</span>
        </div>
        <${ErrorLine} error=${list.error} />
        ${rows.length === 0 ? html`<p class="muted">no schedule</p>` : html`
        <table>
          <thead><tr><th>id</th><th>seed</th><th>rule</th><th>next firing</th><th>state</th><th>fired</th><th>skipped</th><th>arguments</th><th>created</th><th></th></tr></thead>
          <tbody>${rows.map(s => html`
            <tr key=${s.job_id} data-schedule=${s.job_id}>
              <td>${s.job_id}</td>
              <td>${s.seed}${s.from_seed ? html` <span class="muted">(from the seed)</span>` : null}</td>
              <td>${rule(s)}</td>
              <td>${s.next_execution === null ? '—' : html`${when(s.next_execution)} <span class="muted">${ago(s.next_execution)}</span>`}</td>
              <td><${StateBadge} state=${s.state} /></td>
              <td>${s.fired}</td>
              <td>${s.skipped}</td>
              <td><code>${s.parameters}</code></td>
              <td>${when(s.creation_time)}</td>
              <td class="actions">${s.state === 'scheduled' ? html`<button class="danger" onClick=${() => cancel(s.job_id)}>Cancel</button>` : null}
                <${Firings} id=${s.job_id} onSelectJob=${onSelectJob} /></td>
            </tr>`)}
          </tbody>
        </table>`}
      </div>
    </section>`
}

/** The last firings of a schedule, on demand. */
function Firings ({ id, onSelectJob }) {
  const [runs, setRuns] = useState(null)
  const toggle = async () => {
    if (runs !== null) { setRuns(null); return }
    const d = await act(() => get(`admin/scheduled_jobs/${id}?limit=10`), '')
    setRuns(d?.last_executions ?? [])
  }
  return html`<button onClick=${toggle}>${runs === null ? 'Firings' : 'Hide'}</button>
    ${runs === null ? null : html`<ul class="firings">${runs.length === 0 ? html`<li class="muted">none yet</li>` : runs.map(r => html`
      <li><a href=${`#/jobs/${r.exec_id}`} onClick=${e => { e.preventDefault(); onSelectJob(r.exec_id) }}>job ${r.exec_id}</a> ${r.state} <span class="muted">${when(r.datetime)}</span></li>`)}</ul>`}`
}

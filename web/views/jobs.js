// Jobs: the catalog and launches, running jobs with live progress, the history with
// filters, cancel and retry, and one job's detail with its live log tail.
import { useEffect, useState } from 'preact/hooks'
import { get } from '../lib/api.js'
import { live } from '../lib/live.js'
import { ErrorLine, FINAL_JOB_STATES, Progress, StateBadge, html, useLoad, useThrottled, when } from '../lib/ui.js'
import { CatalogView } from './catalog.js'
import { JobActions } from './job-actions.js'
import { JobDetail } from './job-detail.js'

const ACTIVE = 'queued,assigned,running,cancelling,retrying'
const HISTORY_STATES = ['', 'ready', 'failed', 'cancelled', 'running', 'queued']

export function JobsView ({ selected, onSelect }) {
  // Without the event stream, progress moves by reading the running jobs every second.
  const running = useLoad(() => get(`admin/all_jobs?state=${ACTIVE}&limit=200`), [], { pollMs: 1000 })
  const [rows, setRows] = useState([])
  const reloadRunning = useThrottled(running.reload, 500)
  useEffect(() => { if (running.data !== undefined) setRows(running.data) }, [running.data])
  // Live: a job event patches its row at once; a new or finished job reloads the list.
  useEffect(() => live.on('jobs', e => {
    setRows(list => {
      const i = list.findIndex(r => r.job_id === e.job_id)
      if (i === -1 || FINAL_JOB_STATES.has(e.state)) { reloadRunning(); return list }
      const next = [...list]
      next[i] = { ...list[i], state: e.state, node: e.node, attempt: e.attempt, progress: e.progress }
      return next
    })
  }), [reloadRunning])
  return html`
    <section>
      <${CatalogView} onLaunched=${id => { running.reload(); if (id !== null) onSelect(id) }} />
      <div class="card" id="running">
        <h3>Running and queued</h3>
        <${ErrorLine} error=${running.error} />
        <${JobTable} rows=${rows} onSelect=${onSelect} selected=${selected} onChange=${running.reload} empty="no job is running or queued" />
      </div>
      ${selected !== null ? html`<${JobDetail} id=${selected} onClose=${() => onSelect(null)} />` : null}
      <${History} onSelect=${onSelect} selected=${selected} />
    </section>`
}

function History ({ onSelect, selected }) {
  const [state, setState] = useState('')
  const [limit, setLimit] = useState(100)
  const [name, setName] = useState('')
  const hist = useLoad(() => get(`admin/all_jobs?limit=${limit}${state === '' ? '' : `&state=${state}`}`), [state, limit])
  const reload = useThrottled(hist.reload, 1000)
  useEffect(() => live.on('jobs', e => { if (FINAL_JOB_STATES.has(e.state) || e.attempt === 1) reload() }), [reload])
  const rows = (hist.data ?? []).filter(r => name === '' || r.seed.includes(name))
  return html`
    <div class="card" id="history">
      <h3>History</h3>
      <div class="row">
        <label>state <select value=${state} onChange=${e => setState(e.currentTarget.value)}>
          ${HISTORY_STATES.map(s => html`<option value=${s}>${s === '' ? 'any' : s}</option>`)}</select></label>
        <label>seed contains <input value=${name} onInput=${e => setName(e.currentTarget.value)} placeholder="demo/" /></label>
        <label>newest <select value=${limit} onChange=${e => setLimit(Number(e.currentTarget.value))}>
          ${[50, 100, 500, 2000].map(n => html`<option value=${n}>${n}</option>`)}</select></label>
        <button onClick=${hist.reload}>Refresh</button>
      </div>
      <${ErrorLine} error=${hist.error} />
      <${JobTable} rows=${rows} onSelect=${onSelect} selected=${selected} onChange=${hist.reload} empty="no job" />
    </div>`
}

function JobTable ({ rows, onSelect, selected, onChange, empty }) {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`
  return html`
    <table class="jobs">
      <thead><tr><th>id</th><th>seed</th><th>state</th><th>progress</th><th>node</th><th>attempt</th><th>created</th><th></th></tr></thead>
      <tbody>${rows.map(j => html`
        <tr key=${j.job_id} data-job=${j.job_id} data-state=${j.state} class=${j.job_id === selected ? 'selected' : ''}>
          <td><a href=${`#/jobs/${j.job_id}`} onClick=${e => { e.preventDefault(); onSelect(j.job_id) }}>${j.job_id}</a></td>
          <td>${j.seed}${j.schedule_id !== null && j.schedule_id !== undefined ? html` <span class="muted">(schedule ${j.schedule_id})</span>` : null}</td>
          <td><${StateBadge} state=${j.state} /></td>
          <td class="prog"><${Progress} fraction=${j.progress?.fraction} text=${j.progress?.text} /></td>
          <td>${j.node ?? '—'}</td>
          <td>${j.attempt}</td>
          <td>${when(j.creation_time)}</td>
          <td class="actions"><${JobActions} job=${j} onChange=${onChange} /></td>
        </tr>`)}
      </tbody>
    </table>`
}

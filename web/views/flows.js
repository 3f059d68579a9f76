// Batches (one task per key: their progress) and pipelines (each stage's state on each peer).
import { useEffect, useState } from 'preact/hooks'
import { api, get } from '../lib/api.js'
import { live } from '../lib/live.js'
import { ErrorLine, Progress, StateBadge, act, html, useLoad, useThrottled, when } from '../lib/ui.js'

const BATCH_ENDED = new Set(['done', 'cancelled'])

export function FlowsView () {
  return html`<section><${Batches} /><${Pipelines} /></section>`
}

function Batches () {
  const list = useLoad(() => get('admin/batches?limit=100'), [])
  const [counts, setCounts] = useState({})
  const reload = useThrottled(list.reload, 1000)
  // Live: a batch event carries its counts (coarse); a new batch or a new state reloads the list.
  useEffect(() => live.on('batches', e => {
    setCounts(c => ({ ...c, [e.batch_id]: e }))
    const known = (list.data ?? []).find(b => b.batch_id === e.batch_id)
    if (known === undefined || known.state !== e.state) reload()
  }), [list.data, reload])
  const rows = list.data ?? []
  const cancel = async id => { if (await act(() => api('POST', `cancel_job/${id}`)) !== undefined) list.reload() }
  const retry = async id => { if (await act(() => api('POST', `admin/jobs/${id}/retry`)) !== undefined) list.reload() }
  return html`
    <div class="card" id="batches">
      <h3>Batches</h3>
      <${ErrorLine} error=${list.error} />
      ${rows.length === 0 ? html`<p class="muted">no batch</p>` : html`
      <table>
        <thead><tr><th>id</th><th>seed</th><th>state</th><th>progress</th><th>pending</th><th>running</th><th>done</th><th>failed</th><th>rate</th><th>eta</th><th>created</th><th></th></tr></thead>
        <tbody>${rows.map(b => {
          const live = counts[b.batch_id]
          const c = live?.counts ?? b.counts
          const state = live?.state ?? b.state
          const ended = (c.done ?? 0) + (c.failed ?? 0) + (c.cancelled ?? 0)
          const total = Math.max(b.tasks ?? 0, ended + (c.pending ?? 0) + (c.running ?? 0))
          return html`
          <tr key=${b.batch_id} data-batch=${b.batch_id}>
            <td>${b.batch_id}</td>
            <td>${b.seed}<div class="muted">${b.prefix !== null && b.prefix !== undefined ? `prefix ${b.prefix}` : `${b.tasks} keys`}</div></td>
            <td><${StateBadge} state=${state} /></td>
            <td class="prog"><${Progress} fraction=${total === 0 ? null : ended / total} text=${`${ended}/${total}${state === 'listing' ? ` (listing, ${b.listed ?? 0} so far)` : ''}`} /></td>
            <td>${c.pending ?? 0}</td><td>${c.running ?? 0}</td><td>${c.done ?? 0}</td>
            <td>${c.failed ? html`<span class="warn">${c.failed}</span>` : 0}</td>
            <td>${b.throughput_per_s !== undefined && b.throughput_per_s !== null ? `${b.throughput_per_s}/s` : '—'}</td>
            <td>${b.eta_s !== null && b.eta_s !== undefined ? `${b.eta_s} s` : '—'}</td>
            <td>${when(b.creation_time)}</td>
            <td class="actions">${BATCH_ENDED.has(state) || state === 'cancelling' ? null : html`<button class="danger" onClick=${() => cancel(b.batch_id)}>Cancel</button>`}
              ${c.failed > 0 ? html`<button onClick=${() => retry(b.batch_id)}>Retry failed</button>` : null}</td>
          </tr>`
        })}
        </tbody>
      </table>`}
    </div>`
}

function Pipelines () {
  // No event topic for pipelines: read every 2 s while shown.
  const graph = useLoad(() => get('admin/pipelines'), [], { everyMs: 2000 })
  const stages = graph.data?.stages ?? []
  return html`
    <div class="card" id="pipelines">
      <h3>Pipelines</h3>
      <${ErrorLine} error=${graph.error} />
      ${stages.length === 0 ? html`<p class="muted">no pipeline stage on any peer</p>` : html`
      <table>
        <thead><tr><th>stage</th><th>consumes → produces</th><th>peer</th><th>state</th><th>instances</th><th>inbox</th><th>running</th><th>processed</th><th>failed</th><th>rate</th><th>last error</th></tr></thead>
        <tbody>${stages.flatMap(s => (s.peers.length === 0 ? [null] : s.peers).map((p, i) => html`
          <tr key=${`${s.stage}-${p?.peerId ?? ''}`} data-stage=${s.stage}>
            ${i === 0 ? html`<td rowspan=${Math.max(1, s.peers.length)}><b>${s.stage}</b>${s.source ? html` <span class="role">source</span>` : null}${s.deadLetters > 0 ? html`<div class="warn">${s.deadLetters} dead letters</div>` : null}</td>
              <td rowspan=${Math.max(1, s.peers.length)}>${[s.consumes].flat().join(', ') || '—'} → ${[s.produces].flat().join(', ') || '—'}</td>` : null}
            ${p === null ? html`<td colspan="9" class="muted">on no peer</td>` : html`
              <td>${p.peerId}</td><td><${StateBadge} state=${p.state} /></td><td>${p.instances}</td><td>${p.inbox}</td><td>${p.running}</td>
              <td>${p.processed}</td><td>${p.failed ? html`<span class="warn">${p.failed}</span>` : 0}</td><td>${p.ratePerS}/s</td>
              <td class="error">${p.errors?.[0] ?? ''}</td>`}
          </tr>`))}
        </tbody>
      </table>`}
    </div>`
}

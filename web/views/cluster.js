// The cluster: every peer with its roles, state, the coordinator's mark, disk, load and
// when it was last heard; the ring with each volume peer's share; the repair state.
import { ErrorLine, StateBadge, ago, bytes, html, pct, useLive, useTick } from '../lib/ui.js'

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac']

export function ClusterView () {
  const s = useLive()
  useTick(1000)
  const alive = s.peers.filter(p => p.state === 'alive').length
  const leader = s.peers.find(p => p.coordinator)?.node ?? s.leader
  return html`
    <section>
      <div class="summary">
        <div><b>${alive}</b> of <b>${s.peers.length}</b> peers alive</div>
        <div>coordinator: <b>${leader ?? 'none elected'}</b>${s.term !== null ? html` <span class="muted">(term ${s.term})</span>` : null}</div>
        ${s.ring !== null ? html`<div>ring <code>${s.ring.fingerprint}</code>, N=${s.ring.replicas}, W=${s.ring.writeQuorum}</div>` : null}
      </div>
      <${ErrorLine} error=${s.error} />
      <${PeersTable} peers=${s.peers} ring=${s.ring} self=${s.self ?? s.ring?.peer} />
      <div class="two">
        <${RingView} ring=${s.ring} />
        <${RepairView} ring=${s.ring} repair=${s.repair} />
      </div>
    </section>`
}

function PeersTable ({ peers, ring, self }) {
  const shares = ring?.shares ?? {}
  const sorted = [...peers].sort((a, b) => a.node.localeCompare(b.node))
  return html`
    <table class="peers" id="peers">
      <thead><tr><th>peer</th><th>state</th><th>roles</th><th>disk</th><th>load</th><th>last heard</th><th>ring share</th><th>in sync</th><th>gateway</th></tr></thead>
      <tbody>${sorted.map(p => html`
        <tr key=${p.node} data-peer=${p.node} data-state=${p.state}>
          <td>${p.coordinator ? html`<span class="crown" title="coordinator">★</span> ` : null}<b>${p.node}</b>${p.node === self ? html` <span class="muted">(this peer)</span>` : null}</td>
          <td><${StateBadge} state=${p.state} /></td>
          <td>${(p.roles ?? []).map(r => html`<span class="role">${r}</span> `)}</td>
          <td><meter min="0" max="100" low="75" high="90" optimum="0" value=${p.percent ?? 0}></meter> ${p.percent ?? '—'}%
            <span class="muted">${p.free_mb !== null && p.free_mb !== undefined ? ` ${bytes(p.free_mb * 1048576)} free` : ''}</span>
            ${p.accepting_writes === false ? html` <span class="badge state-dead">full</span>` : null}</td>
          <td>${p.load ?? '—'}%</td>
          <td>${p.last_heard === null ? html`<span class="muted">itself</span>` : ago(p.last_heard)}</td>
          <td>${shares[p.node] !== undefined ? pct(shares[p.node]) : html`<span class="muted">—</span>`}</td>
          <td>${p.in_sync === undefined ? '—' : p.in_sync ? 'yes' : html`<span class="warn">no</span>`}</td>
          <td>${p.http ? html`<a href=${p.http + '/'}>${p.http}</a>` : '—'}</td>
        </tr>`)}
      </tbody>
    </table>`
}

/** A donut of the hash space: one arc per volume peer, as wide as its share. */
function RingView ({ ring }) {
  if (ring === null) return html`<div class="card"><h3>Ring</h3><p class="muted">no distributed store on this peer</p></div>`
  const entries = Object.entries(ring.shares ?? {})
  const R = 60
  const C = 2 * Math.PI * R
  let offset = 0
  const arcs = entries.map(([id, share], i) => {
    const arc = html`<circle r=${R} cx="80" cy="80" fill="none" stroke=${COLORS[i % COLORS.length]} stroke-width="28"
      stroke-dasharray=${`${share * C} ${C}`} stroke-dashoffset=${-offset * C} transform="rotate(-90 80 80)"><title>${id}: ${pct(share)}</title></circle>`
    offset += share
    return arc
  })
  return html`
    <div class="card ring" id="ring">
      <h3>Ring</h3>
      <svg viewBox="0 0 160 160" width="160" height="160" role="img" aria-label="ring shares">${arcs}
        <text x="80" y="84" text-anchor="middle" class="ringtext">${entries.length} volume peer${entries.length === 1 ? '' : 's'}</text></svg>
      <ul class="legend">${entries.map(([id, share], i) => html`<li><svg width="10" height="10"><rect width="10" height="10" fill=${COLORS[i % COLORS.length]} /></svg> ${id} <b>${pct(share)}</b></li>`)}</ul>
      ${ring.removedDead?.length > 0 ? html`<p class="warn">taken off the ring (dead): ${ring.removedDead.join(', ')}</p>` : null}
    </div>`
}

function RepairView ({ ring, repair }) {
  if (ring === null) return null
  const ae = ring.antiEntropy ?? {}
  const pending = ring.repairPendingSince !== null && ring.repairPendingSince !== undefined
  return html`
    <div class="card" id="repair">
      <h3>Repair</h3>
      <p>${pending
        ? html`<span class="badge state-suspect">repairing</span> since ${ago(ring.repairPendingSince)}`
        : html`<span class="badge state-alive">in step</span>`}</p>
      <dl>
        <dt>under-replicated keys here</dt><dd>${ring.underReplicated}</dd>
        <dt>keys held here</dt><dd>${ring.localKeys}</dd>
        <dt>last repair took</dt><dd>${ring.lastRepairMs === null ? '—' : `${ring.lastRepairMs} ms`}</dd>
        <dt>anti-entropy rounds</dt><dd>${ae.rounds ?? '—'} <span class="muted">(${ae.keysRepaired ?? 0} keys repaired, ${ae.handedOff ?? 0} handed off)</span></dd>
        <dt>in sync with</dt><dd>${(ae.inSync ?? []).join(', ') || '—'}</dd>
        ${repair !== null ? html`<dt>last repair round</dt><dd>#${repair.round}: ${repair.keysRepaired} keys, ${bytes(repair.bytes)}${repair.done ? ', done' : ', running'}</dd>` : null}
      </dl>
    </div>`
}

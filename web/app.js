// The pmz dashboard: a page of plain ES modules (preact and htm, served by the peer
// from its own package), live from the event stream GET /events.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { onAuth, setToken, token } from './lib/api.js'
import { live } from './lib/live.js'
import { Notices, html, useLive } from './lib/ui.js'
import { ClusterView } from './views/cluster.js'
import { FlowsView } from './views/flows.js'
import { JobsView } from './views/jobs.js'
import { KeysView } from './views/keys.js'
import { SchedulesView } from './views/schedules.js'

const TABS = [['cluster', 'Cluster'], ['keys', 'Keys'], ['jobs', 'Jobs'], ['schedules', 'Schedules'], ['flows', 'Batches & pipelines']]
const CONN_TEXT = { connecting: 'connecting…', live: 'live', polling: 'polling (no event stream)', retrying: 'reconnecting…' }

/** `#/jobs/12` → {tab: 'jobs', id: 12}. */
function parseHash () {
  const [tab, id] = location.hash.replace(/^#\/?/, '').split('/')
  return { tab: TABS.some(t => t[0] === tab) ? tab : 'cluster', id: /^\d+$/.test(id ?? '') ? Number(id) : null }
}

function App () {
  const [route, setRoute] = useState(parseHash())
  const [asking, setAsking] = useState(false)
  const s = useLive()
  useEffect(() => {
    const fn = () => setRoute(parseHash())
    addEventListener('hashchange', fn)
    return () => removeEventListener('hashchange', fn)
  }, [])
  useEffect(() => onAuth(e => { if (e.type === 'unauthorized') setAsking(true) }), [])
  const selectJob = id => { location.hash = id === null ? '#/jobs' : `#/jobs/${id}` }
  return html`
    <header>
      <h1>pmz</h1>
      <span class="peer">${s.self ?? s.ring?.peer ?? ''}</span>
      <nav>${TABS.map(([id, text]) => html`<a href=${`#/${id}`} id=${`tab-${id}`} class=${route.tab === id ? 'active' : ''}>${text}</a>`)}</nav>
      <span class=${`conn conn-${s.conn}`} id="conn" title="how this page stays current">${CONN_TEXT[s.conn]}</span>
      <button class="link" onClick=${() => setAsking(true)}>${token() === '' ? 'Token' : 'Token ✓'}</button>
    </header>
    <main>
      ${route.tab === 'cluster' ? html`<${ClusterView} />` : null}
      ${route.tab === 'keys' ? html`<${KeysView} />` : null}
      ${route.tab === 'jobs' ? html`<${JobsView} selected=${route.id} onSelect=${selectJob} />` : null}
      ${route.tab === 'schedules' ? html`<${SchedulesView} onSelectJob=${selectJob} />` : null}
      ${route.tab === 'flows' ? html`<${FlowsView} />` : null}
    </main>
    ${asking ? html`<${TokenDialog} onClose=${() => setAsking(false)} />` : null}
    <${Notices} />`
}

/**
 * The bearer token of a peer that has one (`[server] token`): kept in this
 * tab's sessionStorage only, sent as `Authorization: Bearer` on every call.
 */
function TokenDialog ({ onClose }) {
  const save = e => {
    e.preventDefault()
    setToken(e.currentTarget.elements.token.value.trim())
    onClose()
  }
  return html`
    <div class="overlay">
      <form class="card dialog" id="token-form" onSubmit=${save}>
        <h3>Token</h3>
        <p>This peer asks for its bearer token (<code>[server] token</code>) for admin reads and every change.
          It is kept in this tab only (sessionStorage).</p>
        <input type="password" name="token" id="token-input" autocomplete="current-password" placeholder="token" value=${token()} />
        <div class="row"><button type="submit" class="primary">Save</button>
          <button type="button" onClick=${() => { setToken(''); onClose() }}>Forget</button>
          <button type="button" onClick=${onClose}>Cancel</button></div>
      </form>
    </div>`
}

live.start()
const root = document.getElementById('app')
root.textContent = ''
render(html`<${App} />`, root)

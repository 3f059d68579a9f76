// One job: its detail (admin/jobs/{id}) and, while it runs, its live state,
// progress and log lines from its event stream (GET /jobs/{id}/events).
import { useEffect, useState } from 'preact/hooks'
import { get } from '../lib/api.js'
import { readStream } from '../lib/sse.js'
import { ErrorLine, FINAL_JOB_STATES, Progress, StateBadge, html } from '../lib/ui.js'
import { JobActions } from './job-actions.js'

const TAIL_LINES = 200

export function JobDetail ({ id, onClose }) {
  const [job, setJob] = useState(null)
  const [lines, setLines] = useState([])
  const [error, setError] = useState(null)
  const [epoch, setEpoch] = useState(0)
  useEffect(() => {
    const controller = new AbortController()
    setLines([])
    setError(null)
    const load = async () => {
      const detail = await get(`admin/jobs/${id}`, { signal: controller.signal })
      setJob({ ...detail, job_id: id })
      if (FINAL_JOB_STATES.has(detail.state)) return
      await readStream(`jobs/${id}/events`, {
        signal: controller.signal,
        onEvent: ({ event, data }) => {
          if (event === 'state') setJob(j => ({ ...j, state: data.state, attempt: data.attempt, node: data.node }))
          else if (event === 'progress') setJob(j => ({ ...j, progress: { fraction: data.fraction, text: data.text } }))
          else if (event === 'log') setLines(l => [...l.slice(1 - TAIL_LINES), data.line])
          else if (event === 'end') { setJob({ ...data, job_id: id }); setLines([]) }
        }
      })
    }
    load().catch(err => { if (!controller.signal.aborted) setError(err.message) })
    return () => controller.abort()
  }, [id, epoch])
  const logText = job === null ? '' : lines.length > 0 ? lines.join('\n') : (job.log === 'na' ? '' : job.log ?? '')
  return html`
    <div class="card detail" id="job-detail" data-job=${id}>
      <h3>Job ${id} ${job !== null ? html`<${StateBadge} state=${job.state} />` : null}
        <button class="close" onClick=${onClose} title="close">×</button></h3>
      <${ErrorLine} error=${error} />
      ${job === null ? html`<p class="muted">loading…</p>` : html`
        <dl>
          <dt>seed</dt><dd>${job.seed}</dd>
          <dt>node</dt><dd>${job.node ?? '—'} <span class="muted">attempt ${job.attempt}</span></dd>
          <dt>progress</dt><dd><${Progress} fraction=${job.progress?.fraction} text=${job.progress?.text} /></dd>
          ${job.time !== undefined && job.time !== 'na' ? html`<dt>time</dt><dd>${job.time} s</dd>` : null}
          ${job.error ? html`<dt>error</dt><dd class="error">${job.error}</dd>` : null}
          ${job.output !== undefined && job.output !== null ? html`<dt>output</dt><dd><pre>${typeof job.output === 'string' ? job.output : JSON.stringify(job.output, null, 1)}</pre></dd>` : null}
          ${job.output_url ? html`<dt>output</dt><dd><a href=${job.output_url.replace(/^\//, '')}>${job.output_key}</a></dd>` : null}
        </dl>
        <div class="row"><${JobActions} job=${job} onChange=${() => setEpoch(e => e + 1)} /></div>
        <h4>Log${lines.length > 0 ? html` <span class="muted">(live tail)</span>` : null}</h4>
        <pre class="log" id="job-log">${logText || html`<span class="muted">no log yet</span>`}</pre>
        ${(job.attempts ?? []).length > 1 ? html`<h4>Attempts</h4><ul>${job.attempts.map(a => html`<li>#${a.attempt} on ${a.node}: ${a.outcome ?? 'running'}${a.reason ? ` (${a.reason})` : ''}</li>`)}</ul>` : null}`}
    </div>`
}

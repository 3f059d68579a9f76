// Cancel and retry of a job (or a schedule, or a batch: they share one sequence of ids).
import { api } from '../lib/api.js'
import { FINAL_JOB_STATES, act, html } from '../lib/ui.js'

export function JobActions ({ job, onChange }) {
  const cancel = async () => { if (await act(() => api('POST', `cancel_job/${job.job_id}`)) !== undefined) onChange?.() }
  const retry = async () => { if (await act(() => api('POST', `admin/jobs/${job.job_id}/retry`)) !== undefined) onChange?.() }
  return html`
    ${FINAL_JOB_STATES.has(job.state) ? null : html`<button class="danger" onClick=${cancel}>Cancel</button>`}
    ${job.state === 'failed' ? html`<button onClick=${retry}>Retry</button>` : null}`
}

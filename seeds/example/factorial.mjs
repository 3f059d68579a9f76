// An example seed: `POST /launch_job/example/factorial` with {"number": 20}
// (Pulzar's example takes `number`; `n` works too) runs it on a worker peer.
// A module seed exports a function (args, ctx) => result, or `run`; `meta`
// describes it in `admin/job_catalog`. See README, "Jobs and schedules".
export const meta = {
  description: 'Calculate the factorial of a number',
  args: { number: 'a non-negative integer, at most 5000' },
  category: 'math',
  author: 'pmz'
}

export const timeoutMs = 10_000

export async function run (args, ctx) {
  const n = BigInt(args?.number ?? args?.n ?? 10)
  if (n < 0n || n > 5000n) throw new Error('number must be from 0 to 5000')
  let f = 1n
  for (let i = 2n; i <= n; i++) f *= i
  ctx.log.info(`factorial of ${n} has ${f.toString().length} digits`)
  return { number: Number(n), factorial: f.toString() }
}

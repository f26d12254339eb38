// Runs every bench/*.bench.mjs one after another, each in its own child process: one embedded
// interpreter serves a process, so a fresh process per bench keeps them from warming, loading or
// slowing each other. Sequential, never parallel, so they do not compete for the cores.
//
//   node bench/run.mjs            all benches
//   node bench/run.mjs sync       only those whose file name contains "sync"
//   BENCH_QUICK=1 node bench/run.mjs
//
// Output streams straight through; the exit code is non-zero if any bench failed.
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const filters = process.argv.slice(2)
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort()

if (benches.length === 0) {
  console.error(`no bench/*.bench.mjs${filters.length ? ` matching ${filters.join(', ')}` : ''}`)
  process.exit(1)
}

// Resolves to a short description of how the child ended, or null if it succeeded.
function run(file) {
  return new Promise((resolve) => {
    // Same node binary and flags, same cwd and environment (cwd decides which .venv is found).
    const child = spawn(process.execPath, [...process.execArgv, join(here, file)], { stdio: 'inherit' })
    child.on('error', (err) => resolve(`could not start: ${err.message}`))
    child.on('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : code === 0 ? null : `exit code ${code}`))
  })
}

const failed = []
for (const file of benches) {
  console.log(`\n=== ${file}`)
  const started = Date.now()
  const problem = await run(file)
  const secs = ((Date.now() - started) / 1000).toFixed(1)
  if (problem) {
    failed.push(`${file}: ${problem}`)
    console.error(`=== ${file} FAILED (${problem}) after ${secs}s`)
  } else {
    console.log(`=== ${file} done in ${secs}s`)
  }
}

if (failed.length) {
  console.error(`\n${failed.length} of ${benches.length} bench(es) failed:\n  ${failed.join('\n  ')}`)
  process.exit(1)
}
console.log(`\nall ${benches.length} bench(es) passed`)

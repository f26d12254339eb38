#!/usr/bin/env node
// Runs the ava suite once per CPython 3.9–3.13 with the SAME built binary (native/), each
// against a venv of that CPython with the test requirements (build/matrix/venv-3.X), and once
// on Node 22 (the npm registry's `node` package, installed into build/tools/node-22).
//
//   node scripts/test-matrix.mjs                         all five CPythons on this Node, then Node 22
//   node scripts/test-matrix.mjs --python 3.9,3.13       some CPythons (on this Node)
//   node scripts/test-matrix.mjs --node 22 --python 3.13 one run on Node 22
//   node scripts/test-matrix.mjs --if-ci                 the full matrix if CI=true, else nothing
//                                                        (`npm test` ends with this: the suite takes
//                                                        seconds, so CI runs every CPython, not a pair)
//   ... -- build/__test__/discovery.spec.js              pass files (or ava flags) after `--`
//
// A CPython is found as $PYENV_ROOT/versions/3.X.*/bin/python3.X (newest patch), else python3.X
// on PATH. A version that is missing fails the matrix: a green matrix means every run ran.
// Expects a built tree (native/, dist/); `npm run test:matrix` builds first.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const ALL = ['3.9', '3.10', '3.11', '3.12', '3.13']
const argv = process.argv.slice(2)
const rest = argv.includes('--') ? argv.slice(argv.indexOf('--') + 1) : []
const opts = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv
const opt = (name) => {
  const i = opts.indexOf(`--${name}`)
  return i >= 0 ? opts[i + 1] : undefined
}

/** The runs: [{ python: '3.9', node: 'current' | '22' }]. */
function plan() {
  if (opts.includes('--if-ci') && process.env.CI !== 'true') return []
  const node = opt('node') ?? 'current'
  const pythons = opt('python')?.split(',') ?? ALL
  const runs = pythons.map((python) => ({ python, node }))
  if (!opt('python') && !opt('node')) runs.push({ python: 'default', node: '22' })
  return runs
}

function findPython(version) {
  const pyenvRoot = process.env.PYENV_ROOT || join(homedir(), '.pyenv')
  const versions = join(pyenvRoot, 'versions')
  if (existsSync(versions)) {
    const patch = (v) => Number(v.split('.')[2])
    const found = readdirSync(versions)
      .filter((v) => new RegExp(`^${version.replace('.', '\\.')}\\.\\d+$`).test(v))
      .sort((a, b) => patch(b) - patch(a))
      .map((v) => join(versions, v, 'bin', `python${version}`))
      .find((p) => existsSync(p))
    if (found) return found
  }
  try {
    return execFileSync(`python${version}`, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(`CPython ${version} not found (pyenv: \`pyenv install ${version}\` with PYTHON_CONFIGURE_OPTS=--enable-shared)`)
  }
}

/** Node 22 from the npm registry's `node` package (no download from anywhere else). */
function node22() {
  const dir = join(root, 'build', 'tools', 'node-22')
  const bin = join(dir, 'node_modules', 'node', 'bin', process.platform === 'win32' ? 'node.exe' : 'node')
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'package.json'), '{ "private": true }\n')
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    execFileSync(npm, ['install', '--no-save', '--no-audit', '--no-fund', 'node@22'], { cwd: dir, stdio: 'inherit' })
  }
  return bin
}

function venvFor(version) {
  if (version === 'default') return undefined
  const venv = join(root, 'build', 'matrix', `venv-${version}`)
  execFileSync(process.execPath, [join(root, 'scripts', 'setup-venv.mjs'), '--python', findPython(version), '--venv', venv], {
    stdio: 'inherit',
  })
  return venv
}

const runs = plan()
if (runs.length === 0) {
  console.error('test:matrix: skipped (CI is not set; run `npm run test:matrix` for the full matrix)')
  process.exit(0)
}
execFileSync(join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc'), ['-p', 'tsconfig.test.json'], {
  cwd: root,
  stdio: 'inherit',
})
const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
const results = []
for (const run of runs) {
  const node = run.node === 'current' ? process.execPath : node22()
  const venv = venvFor(run.python)
  const env = { ...process.env, PYNODE_NATIVE_DIR: join(root, 'native') }
  if (venv) env.PYNODE_TEST_VENV = venv
  else delete env.PYNODE_TEST_VENV
  const nodeVersion = execFileSync(node, ['-v'], { encoding: 'utf8' }).trim()
  const label = `CPython ${run.python === 'default' ? 'of ./.venv' : run.python} on Node ${nodeVersion}`
  console.error(`\n=== test:matrix: ${label} ===`)
  const t0 = Date.now()
  const r = spawnSync(node, [ava, ...rest], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  process.stdout.write(r.stdout)
  // ava prints a "N tests passed" total only when nothing failed, so count its result lines.
  const count = (mark) => r.stdout.split('\n').filter((line) => line.startsWith(`  ${mark} `)).length
  results.push({ label, status: r.status, passed: count('✔'), failed: count('✘'), seconds: (Date.now() - t0) / 1000 })
}

console.log('\ntest:matrix summary (one binary: native/)')
for (const r of results) {
  console.log(
    `  ${r.status === 0 ? 'ok  ' : 'FAIL'}  ${r.label.padEnd(36)} ${r.passed} passed, ${r.failed} failed  (${r.seconds.toFixed(0)} s)`,
  )
}
const failedRuns = results.filter((r) => r.status !== 0).length
const sum = (k) => results.reduce((n, r) => n + r[k], 0)
console.log(`test:matrix: ${sum('passed')} passed, ${sum('failed') + (failedRuns && !sum('failed') ? failedRuns : 0)} failed`)
process.exit(failedRuns ? 1 : 0)

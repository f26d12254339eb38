#!/usr/bin/env node
// Installs pynode the way a user does, from packed tarballs, and runs it: `npm pack` of the main
// package and of this machine's platform package (npm/<platform>/ plus the binaries that
// `npm run build` made, copied in by scripts/npm-packages.mjs as the release workflow does),
// `npm install` of both into a fresh project with no Rust toolchain on PATH, then a call from
// CommonJS and ESM and `npx pynode doctor` there. Checks the binaries came from the platform
// package, not from this checkout.
//   node scripts/pack-test.mjs [--keep]      (--keep leaves the temporary project for a look)
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const isWindows = process.platform === 'win32'
const npm = isWindows ? 'npm.cmd' : 'npm'
const tmp = mkdtempSync(join(tmpdir(), 'pynode-pack-'))

function check(ok, what) {
  if (!ok) throw new Error(`pack-test: ${what}`)
  console.error(`pack-test: ok: ${what}`)
}

/** PATH without any directory that holds cargo or rustc: the user has no Rust toolchain. */
function pathWithoutRust() {
  return (process.env.PATH || '')
    .split(delimiter)
    .filter((dir) => !['cargo', 'rustc'].some((tool) => existsSync(join(dir, isWindows ? `${tool}.exe` : tool))))
    .join(delimiter)
}

try {
  const { platformSuffix } = await import(join(root, 'dist', 'native.js'))
  const platform = platformSuffix()
  check(existsSync(join(root, 'native', `pynode.${platform}.node`)), `native/ has this platform's build (${platform})`)

  // The main package: JS, typings and the CLI; no binaries.
  const packed = JSON.parse(
    execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: root, encoding: 'utf8' }),
  )[0]
  const files = packed.files.map((f) => f.path)
  check(
    files.includes('dist/index.js') && files.includes('dist/index.mjs') && files.includes('bin/pynode.js'),
    'main package has dist/ and bin/',
  )
  check(!files.some((f) => f.endsWith('.node')), 'main package carries no .node binary')

  // The platform package, with both binaries.
  const npmDir = join(tmp, 'npm')
  mkdirSync(npmDir)
  cpSync(join(root, 'npm', platform), join(npmDir, platform), { recursive: true })
  execFileSync(process.execPath, [join(root, 'scripts', 'npm-packages.mjs'), '--artifacts', join(root, 'native'), '--npm-dir', npmDir], {
    stdio: 'inherit',
  })
  const platformPacked = JSON.parse(
    execFileSync(npm, ['pack', '--json', '--pack-destination', tmp], { cwd: join(npmDir, platform), encoding: 'utf8' }),
  )[0]
  check(
    platformPacked.files
      .map((f) => f.path)
      .sort()
      .join() === [`pynode-loader.${platform}.node`, `pynode.${platform}.node`, 'README.md', 'package.json'].sort().join(),
    `${platformPacked.name} has both binaries`,
  )

  // A fresh project, no Rust toolchain, and a virtualenv of its own (what a user would have).
  const project = join(tmp, 'project')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), '{ "name": "pack-test-app", "version": "1.0.0", "private": true }\n')
  const env = { ...process.env, PATH: pathWithoutRust() }
  for (const key of ['PYNODE_NATIVE_DIR', 'PYNODE_PYTHON', 'VIRTUAL_ENV', 'CONDA_PREFIX']) delete env[key]
  check(spawnSync('cargo', ['--version'], { env }).error?.code === 'ENOENT', 'no cargo on PATH in the test project')
  execFileSync(npm, ['install', '--no-audit', '--no-fund', join(tmp, packed.filename), join(tmp, platformPacked.filename)], {
    cwd: project,
    env,
    stdio: 'inherit',
  })
  execFileSync(isWindows ? 'python' : 'python3', ['-m', 'venv', '--without-pip', join(project, '.venv')], { env })

  const call = `const i = python.info
    const r = python.eval('sum(range(10))')
    console.log(JSON.stringify({ r, version: i.version, source: i.source, prefix: i.prefix }))`
  const run = (args) => JSON.parse(execFileSync(process.execPath, args, { cwd: project, env, encoding: 'utf8' }).trim().split('\n').pop())
  const cjs = run(['-e', `const { python } = require('pynode')\n${call}`])
  check(
    cjs.r === 45 && cjs.source === '.venv' && cjs.prefix === join(project, '.venv'),
    `a call from CommonJS (Python ${cjs.version} of the project's .venv)`,
  )
  const esm = run(['--input-type=module', '-e', `import { python } from 'pynode'\n${call}`])
  check(esm.r === 45, 'a call from ESM')

  const doctor = spawnSync(join(project, 'node_modules', '.bin', isWindows ? 'pynode.cmd' : 'pynode'), ['doctor', '--json'], {
    cwd: project,
    env,
    encoding: 'utf8',
  })
  check(doctor.status === 0, `npx pynode doctor exits 0 ${doctor.stderr}`)
  const report = JSON.parse(doctor.stdout)
  const installed = join(project, 'node_modules', platformPacked.name)
  check(
    report.native.source === 'package' && report.native.packageName === platformPacked.name && report.native.dir === installed,
    `the binaries came from ${platformPacked.name} (${report.native.dir})`,
  )
  check(readdirSync(join(project, 'node_modules', 'pynode')).includes('bin'), 'the installed pynode has its CLI')
  console.error(`pack-test: passed (${packed.filename}, ${platformPacked.filename})`)
} finally {
  if (process.argv.includes('--keep')) console.error(`pack-test: left ${tmp}`)
  else rmSync(tmp, { recursive: true, force: true })
}

#!/usr/bin/env node
// Builds everything a fresh clone needs: the two native addons (release, thin LTO), the
// TypeScript, and the test virtualenv (.venv with numpy). Each step is incremental.
//   node scripts/build.mjs            all steps
//   node scripts/build.mjs --rust     native addons only
//   node scripts/build.mjs --ts       TypeScript only
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const only = process.argv.slice(2).filter((a) => a.startsWith('--'))
const want = (step) => only.length === 0 || only.includes(`--${step}`)
const bin = (name) => join(root, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name)

function run(cmd, args, env = {}) {
  console.error(`> ${cmd} ${args.join(' ')}`)
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
}

if (want('rust')) {
  // The binding must not link libpython: one binary serves every CPython (the loader addon
  // loads the chosen libpython with global symbols first).
  const env = { PYO3_BUILD_EXTENSION_MODULE: '1' }
  const common = ['build', '--platform', '--release', '--no-js', '--output-dir', 'native']
  run(bin('napi'), [...common, '--package', 'pynode-loader', '--config-path', 'crates/pynode-loader/napi.json'], env)
  run(bin('napi'), [...common, '--package', 'pynode-node'], env)
}
if (want('ts')) {
  run(bin('tsc'), ['-p', 'tsconfig.json'])
}
if (want('venv')) {
  run(process.execPath, [join(root, 'scripts', 'setup-venv.mjs')])
}

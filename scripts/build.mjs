#!/usr/bin/env node
// Builds everything a fresh clone needs: the two native addons (release, thin LTO), the
// TypeScript, and the test virtualenv (.venv with numpy). Each step is incremental.
//   node scripts/build.mjs            all steps
//   node scripts/build.mjs --rust     native addons only
//   node scripts/build.mjs --ts       TypeScript only
//   node scripts/build.mjs --rust --target aarch64-unknown-linux-gnu [--cross-compile | --use-napi-cross]
//                                     another target (the release workflow's build matrix); the
//                                     cross flags are napi build's (zig/xwin, or a glibc 2.17 gcc)
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const STEPS = ['--rust', '--ts', '--venv']
const only = args.filter((a) => STEPS.includes(a))
const want = (step) => only.length === 0 || only.includes(`--${step}`)
const target = args.includes('--target') ? ['--target', args[args.indexOf('--target') + 1]] : []
const cross = args.filter((a) => a === '--cross-compile' || a === '--use-napi-cross')
const bin = (name) => join(root, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name)

function run(cmd, args, env = {}) {
  console.error(`> ${cmd} ${args.join(' ')}`)
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
}

if (want('rust')) {
  // The binding must not link libpython: one binary serves every CPython (the loader addon
  // loads the chosen libpython with global symbols first).
  const env = { PYO3_BUILD_EXTENSION_MODULE: '1' }
  const common = ['build', '--platform', '--release', '--no-js', '--output-dir', 'native', ...target, ...cross]
  run(bin('napi'), [...common, '--package', 'pynode-loader', '--config-path', 'crates/pynode-loader/napi.json'], env)
  run(bin('napi'), [...common, '--package', 'pynode-node'], env)
}
if (want('ts')) {
  run(bin('tsc'), ['-p', 'tsconfig.json'])
}
if (want('venv')) {
  run(process.execPath, [join(root, 'scripts', 'setup-venv.mjs')])
}
